//! `hrsync replay`: maps a kept HR snapshot with a new configuration and prints what would
//! change, against the old configuration and against the directory now. Writes nothing.

use anyhow::{Context, Result};
use hrsync_config::Config;
use hrsync_engine::replay::{self, AttrCounts, ReplayReport, ReplayRequest, snapshot};
use std::collections::BTreeMap;
use std::path::Path;

/// The arguments of `hrsync replay`.
pub struct Args<'a> {
    pub config: &'a Path,
    pub mapping: Option<String>,
    pub run: Option<i64>,
    pub old: Option<&'a Path>,
    pub json: bool,
    pub examples: usize,
    pub directory: bool,
    pub list: bool,
}

pub async fn run(a: Args<'_>) -> Result<i32> {
    let new = Config::load(a.config)?;
    let mapping = match a.mapping {
        Some(m) => m,
        None => {
            let names = new.mapping_names();
            match names.as_slice() {
                [one] => one.clone(),
                _ => anyhow::bail!(
                    "the configuration has {} mappings ({}): name one with --mapping",
                    names.len(),
                    names.join(", ")
                ),
            }
        }
    };
    let dir = hrsync_config::snapshots::dir_for(&new.state_path(), &mapping);
    let kept = snapshot::kept(&dir)?;
    if a.list {
        if a.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "mapping": mapping,
                    "folder": dir.display().to_string(),
                    "runs": kept,
                }))?
            );
        } else if kept.is_empty() {
            println!(
                "mapping {mapping:?}: no HR snapshot kept yet in {} (the next complete full plan or apply keeps one)",
                dir.display()
            );
        } else {
            println!(
                "mapping {mapping:?}: HR snapshots of runs {} in {}",
                kept.iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                dir.display()
            );
        }
        return Ok(0);
    }
    let run = match a.run.or_else(|| kept.last().copied()) {
        Some(r) => r,
        None => anyhow::bail!(
            "no HR snapshot kept for mapping {mapping:?} in {}: run `hrsync plan` once (a complete full fetch keeps one; [state] keep_hr_snapshots must not be 0)",
            dir.display()
        ),
    };
    let old = match a.old {
        Some(p) => Some(Config::load(p).with_context(|| format!("--old {}", p.display()))?),
        None => None,
    };
    let report = replay::replay(ReplayRequest {
        new: &new,
        mapping: &mapping,
        run,
        old: old.as_ref(),
        examples: a.examples,
        directory: a.directory,
    })
    .await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(0)
}

fn values(v: &[String]) -> String {
    if v.iter().all(|s| s.trim().is_empty()) {
        "(none)".into()
    } else if v.len() == 1 {
        format!("{:?}", v[0])
    } else {
        format!("{v:?}")
    }
}

fn counts_line(attrs: &BTreeMap<String, AttrCounts>) -> Vec<String> {
    attrs
        .iter()
        .map(|(a, c)| {
            let mut parts = Vec::new();
            if c.changed > 0 {
                parts.push(format!("{} changed", c.changed));
            }
            if c.added > 0 {
                parts.push(format!("{} added", c.added));
            }
            if c.removed > 0 {
                parts.push(format!("{} REMOVED", c.removed));
            }
            format!("{a}: {}", parts.join(", "))
        })
        .collect()
}

fn print_text(r: &ReplayReport) {
    println!(
        "Replay of run {} (mapping {:?}): {} HR record(s) fetched {}",
        r.run_id,
        r.mapping,
        r.records,
        r.fetched_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    println!("  snapshot: {}", r.snapshot);
    println!("  old configuration: {}", r.old_config);
    println!("  new configuration: {}", r.new_config);
    let v = &r.versus_old;
    println!();
    println!("The new configuration against the old one, on the same HR records:");
    println!(
        "  {} of {} people would change, {} unchanged",
        v.people_changed, r.records, v.people_unchanged
    );
    for l in counts_line(&v.attributes) {
        println!("    {l}");
    }
    println!(
        "  DN changes {} · new leavers {} · leavers no more {} · newly failing {} · failing no more {} · people colliding {} (before: {})",
        v.dn_changed,
        v.became_leavers,
        v.no_longer_leavers,
        v.newly_failing,
        v.no_longer_failing,
        v.collisions_after,
        v.collisions_before
    );
    if !v.examples.is_empty() {
        println!("  for example:");
    }
    for p in &v.examples {
        println!(
            "    {}  {}",
            p.key,
            p.dn_before.as_deref().unwrap_or("(not mapped before)")
        );
        if let Some(dn) = &p.dn_after {
            println!("      DN -> {dn}");
        }
        for a in &p.attrs {
            println!(
                "      {}: {} -> {}",
                a.attr,
                values(&a.before),
                values(&a.after)
            );
        }
        if let Some(n) = &p.note {
            println!("      {n}");
        }
    }
    if let Some(d) = &r.versus_directory {
        println!();
        println!(
            "Against the directory now ({}), the plan the new configuration would make:",
            d.target
        );
        let s = &d.summary;
        println!(
            "  create {}, update {}, enable {}, disable {}, delete {}; moves {}, renames {}; unchanged {}",
            s.create, s.update, s.enable, s.disable, s.delete, d.moves, d.renames, s.unchanged
        );
        for l in counts_line(&d.attributes) {
            println!("    {l}");
        }
        if d.held > 0 {
            println!("  HELD by thresholds: {} change(s)", d.held);
            for reason in &d.held_reasons {
                println!("    {reason}");
            }
        }
        if d.awaiting_approval > 0 {
            println!("  awaiting approval: {} change(s)", d.awaiting_approval);
        }
        println!(
            "  people colliding (DN or unique name taken): {} · errors: {}",
            d.collisions, d.errors
        );
        for f in &d.collision_examples {
            println!("    {}: {}", f.subject, f.message);
        }
        if d.managed_not_in_snapshot > 0 {
            println!(
                "  {} managed account(s) whose person is not in the snapshot: not judged (replay makes no leaver of absence)",
                d.managed_not_in_snapshot
            );
        }
        if !d.examples.is_empty() {
            println!("  for example:");
        }
        for c in &d.examples {
            println!("    {} {}  [{}]", c.kind.as_str(), c.dn, c.key);
            for a in c
                .attrs
                .iter()
                .filter(|a| !a.attr.as_str().starts_with("hrsync-"))
            {
                println!(
                    "      {}: {} -> {}",
                    a.attr,
                    values(&a.before),
                    values(&a.after)
                );
            }
        }
    }
    println!();
    println!("Nothing was written: not the directory, not the state (no run, no link).");
}
