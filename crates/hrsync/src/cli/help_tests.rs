//! The README's "Commands" table and `--help` say the same thing: every subcommand and every
//! option of `hrsync` appears in the table, in the synopsis of its command, and every argument
//! has help text.

use clap::CommandFactory;

const README: &str = include_str!("../../../../README.md");

/// The "Commands" section of the README, up to the next `## ` heading.
fn commands_section() -> &'static str {
    let start = README
        .find("\n## Commands\n")
        .expect("README.md has a \"## Commands\" section");
    let rest = &README[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// The synopses of the Commands table: every `` `hrsync …` `` code span in a table row, as
/// words with `[`, `]` and `…` taken off (`[--limit N]` → `--limit`, `N`).
fn synopses() -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in commands_section().lines().filter(|l| l.starts_with('|')) {
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 1 && span.starts_with("hrsync ") {
                out.push(
                    span.split_whitespace()
                        .map(|w| {
                            w.trim_matches(|c| matches!(c, '[' | ']' | '…' | ','))
                                .to_string()
                        })
                        .filter(|w| !w.is_empty())
                        .collect(),
                );
            }
        }
    }
    out
}

/// Every leaf command: its path (`["orchestrate", "list"]`) and the command.
fn leaves(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|c| c.get_name() != "help")
        .collect();
    if subs.is_empty() {
        out.push((path, cmd.clone()));
        return;
    }
    for s in subs {
        let mut p = path.clone();
        p.push(s.get_name().to_string());
        leaves(s, p, out);
    }
}

fn builtin(a: &clap::Arg) -> bool {
    matches!(a.get_id().as_str(), "help" | "version")
}

/// What a synopsis must show for an argument: `--long` (or `-s` for a short-only one), or the
/// value name of a positional argument (`TEMPLATE`).
fn spellings(a: &clap::Arg) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(l) = a.get_long() {
        v.push(format!("--{l}"));
    }
    if let Some(s) = a.get_short() {
        v.push(format!("-{s}"));
    }
    if a.is_positional() {
        match a.get_value_names() {
            Some(names) => v.extend(names.iter().map(|n| n.to_string())),
            None => v.push(a.get_id().as_str().to_uppercase()),
        }
    }
    v
}

/// What the README misses: `hrsync <path>: <what>` lines.
fn missing_from(synopses: &[Vec<String>]) -> Vec<String> {
    let mut all = Vec::new();
    leaves(&crate::Cli::command(), Vec::new(), &mut all);
    let mut missing = Vec::new();
    for (path, cmd) in &all {
        let name = path.join(" ");
        let mine: Vec<&Vec<String>> = synopses
            .iter()
            .filter(|s| s.len() > path.len() && s[1..=path.len()] == path[..])
            .collect();
        if mine.is_empty() {
            missing.push(format!("hrsync {name}: the command"));
            continue;
        }
        for a in cmd.get_arguments().filter(|a| !builtin(a)) {
            let want = spellings(a);
            // `--long` or its short form (`-c FILE`), in this command's own synopsis.
            let ok = mine.iter().any(|s| {
                s[path.len() + 1..]
                    .iter()
                    .any(|w| want.iter().any(|x| x == w))
            });
            if !ok {
                missing.push(format!("hrsync {name}: {}", want.join(" / ")));
            }
        }
    }
    missing
}

#[test]
fn every_command_and_option_is_in_the_readme_commands_table() {
    let missing = missing_from(&synopses());
    assert!(
        missing.is_empty(),
        "README.md \"Commands\" table lacks (add them to the command's synopsis):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn the_check_finds_a_missing_option_and_a_missing_command() {
    // The guard itself: without `--ldif` in the plan synopsis, and without `deliveries`, it
    // complains.
    let edited: Vec<Vec<String>> = synopses()
        .into_iter()
        .filter(|s| s.get(1).map(String::as_str) != Some("deliveries"))
        .map(|s| {
            if s.get(1).map(String::as_str) == Some("plan") {
                s.into_iter().filter(|w| w != "--ldif").collect()
            } else {
                s
            }
        })
        .collect();
    let missing = missing_from(&edited);
    assert!(
        missing.contains(&"hrsync plan: --ldif".to_string()),
        "{missing:?}"
    );
    assert!(
        missing.contains(&"hrsync deliveries: the command".to_string()),
        "{missing:?}"
    );
}

#[test]
fn every_command_and_argument_has_help() {
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for a in cmd.get_arguments().filter(|a| !builtin(a)) {
            if a.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                out.push(format!("{path}: {}", a.get_id()));
            }
        }
        for s in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
            let p = format!("{path} {}", s.get_name());
            if s.get_about().is_none() {
                out.push(format!("{p}: (no description)"));
            }
            walk(s, &p, out);
        }
    }
    let mut out = Vec::new();
    walk(&crate::Cli::command(), "hrsync", &mut out);
    assert!(out.is_empty(), "without help text:\n  {}", out.join("\n  "));
}

#[test]
fn the_readme_documents_every_exit_code() {
    use hrsync_engine::RunStatus;
    let section = commands_section();
    for s in [
        RunStatus::Ok,
        RunStatus::Held,
        RunStatus::Incomplete,
        RunStatus::Partial,
        RunStatus::Failed,
        RunStatus::Stale,
        RunStatus::Cancelled,
    ] {
        let code = s.exit_code();
        assert!(
            section.contains(&format!("| `{code}` |")),
            "exit code {code} ({}) is not in the README's exit code table",
            s.as_str()
        );
    }
    assert!(section.contains("| `1` |"), "exit code 1 (error)");
}
