//! `hrsync explain -c FILE KEY`: renders `hrsync_engine::explain::Explanation` as one screen.

use anyhow::{Context, Result};
use hrsync_config::Config;
use hrsync_engine::explain::{Explanation, Options};
use hrsync_mapping::{FieldValue, Role};
use std::fmt::Write as _;
use std::path::Path;

pub async fn run(
    config: &Path,
    mapping: Option<String>,
    key: &str,
    json: bool,
    show_sensitive: bool,
    history: usize,
) -> Result<i32> {
    let cfg = Config::load(config)?;
    let mapping = crate::one_mapping(&cfg, mapping)?;
    let job = cfg.job(&mapping)?;
    let store = hrsync_state::Store::open(&cfg.state_path())
        .with_context(|| format!("state database {}", cfg.state_path().display()))?;
    let opts = Options {
        history,
        show_sensitive,
        ..Default::default()
    };
    let e = hrsync_engine::explain::explain(&job, &store, key, &opts)
        .await
        .with_context(|| format!("explaining {key:?} (mapping {mapping:?})"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&e)?);
    } else {
        print!("{}", render(&e));
    }
    Ok(0)
}

fn fields(f: &[FieldValue]) -> String {
    if f.is_empty() {
        return "(no fields)".into();
    }
    f.iter()
        .map(|x| {
            format!(
                "{}: {}",
                x.field,
                x.value
                    .as_ref()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "(absent)".into())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|x| x.to_string())
        .unwrap_or_else(|| "-".into())
}

/// The explanation as text, section by section.
pub fn render(e: &Explanation) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{} in mapping {:?}", e.key, e.mapping);
    let _ = writeln!(o, "\nPlan: {}", e.plan.summary);

    let h = &e.hr;
    let _ = writeln!(
        o,
        "\nHR record ({} {}{}, {}{}):",
        h.integration,
        h.endpoint,
        if h.joins.is_empty() {
            String::new()
        } else {
            format!(" + joins {}", h.joins.join(", "))
        },
        match h.method {
            hrsync_engine::person::Method::Lookup => "looked up by key",
            hrsync_engine::person::Method::Filtered => "fetched filtered to this person",
            hrsync_engine::person::Method::FullFetch => "full fetch, the others dropped",
        },
        if h.complete { "" } else { ", INCOMPLETE" }
    );
    if !h.found {
        let _ = writeln!(o, "  (no record with this key)");
    }
    // The fields the mapping reads; the others are counted (`--json` has them all).
    let read: std::collections::BTreeSet<&str> = e
        .mapping_result
        .iter()
        .flat_map(|m| {
            m.formats
                .iter()
                .flat_map(|f| &f.fields)
                .chain(m.scope.iter().flat_map(|r| &r.fields))
                .chain(m.leaver_rule.iter().flat_map(|r| &r.fields))
        })
        .map(|f| f.field.split('.').next().unwrap_or_default())
        .chain(h.primary_key.split('.').next())
        .collect();
    let shown: Vec<_> = h
        .fields
        .iter()
        .filter(|f| read.contains(f.field.as_str()))
        .collect();
    let width = shown
        .iter()
        .map(|f| f.field.len())
        .max()
        .unwrap_or(0)
        .min(32);
    for f in &shown {
        let _ = writeln!(o, "  {:<width$} = {}   [{}]", f.field, f.value, f.from);
    }
    if h.fields.len() > shown.len() {
        let _ = writeln!(
            o,
            "  … and {} other field(s) the mapping does not read (`--json` shows them all)",
            h.fields.len() - shown.len()
        );
    }
    for p in &h.problems {
        let _ = writeln!(o, "  problem: {p}");
    }

    if let Some(m) = &e.mapping_result {
        let _ = writeln!(
            o,
            "\nMapping: {}{}",
            m.outcome,
            m.dn.as_ref().map(|d| format!(" → {d}")).unwrap_or_default()
        );
        for f in m.formats.iter() {
            let mut flags = Vec::new();
            if f.required {
                flags.push("required");
            }
            if f.create_only {
                flags.push("on create");
            }
            if f.unique {
                flags.push("unique");
            }
            if f.refers_to_person {
                flags.push("refers to a person");
            }
            let role = match f.role {
                Role::Attribute => "",
                Role::Ou => "(OU) ",
                Role::Group => "(group rule) ",
                Role::Candidate => "(candidate) ",
                Role::StartDate => "(start date) ",
                Role::EndDate => "(end date) ",
                Role::ReferenceKey => "(reference key) ",
            };
            let _ = writeln!(
                o,
                "  {role}{} = {}{}",
                f.attribute,
                f.value
                    .as_ref()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_else(|| "(empty: left out)".into()),
                if flags.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", flags.join(", "))
                }
            );
            let _ = writeln!(o, "      {:?} ← {}", f.format, fields(&f.fields));
            if let Some(err) = &f.error {
                let _ = writeln!(o, "      format failed: {err}");
            }
        }
        for (name, r) in [("scope_when", &m.scope), ("leaver_when", &m.leaver_rule)] {
            if let Some(r) = r {
                let _ = writeln!(
                    o,
                    "  {name} = {:?} → {} ← {}\n      {}",
                    r.expression,
                    opt(&r.result),
                    fields(&r.fields),
                    r.effect
                );
            }
        }
        if let Some(reason) = &m.leaver_reason {
            let _ = writeln!(o, "  leaver: {reason}");
        }
        for f in &m.findings {
            let _ = writeln!(o, "  {}: {}", f.severity, f.message);
        }
    }

    for u in &e.plan.unique {
        let _ = writeln!(o, "\nUnique {}:", u.attribute);
        for t in &u.tried {
            let _ = writeln!(
                o,
                "  {:<24} {}",
                t.value,
                t.refused
                    .as_ref()
                    .map(|r| format!("taken ({r})"))
                    .unwrap_or_else(|| "free: chosen".into())
            );
        }
        if u.chosen.is_none() {
            let _ = writeln!(o, "  none free: add a candidate format");
        }
    }
    for r in &e.plan.references {
        let _ = writeln!(
            o,
            "\nReference {}: HR value {} → person {} → their account {}\n  {} after the plan: {}",
            r.attribute,
            opt(&r.hr_value),
            opt(&r.person),
            opt(&r.account),
            r.attribute,
            if r.value.is_empty() {
                "(not set)".to_string()
            } else {
                r.value.join(", ")
            }
        );
        if let Some(p) = &r.problem {
            let _ = writeln!(o, "  {p}");
        }
    }

    let d = &e.directory;
    let _ = writeln!(o, "\nDirectory today:");
    if let Some(err) = &d.error {
        let _ = writeln!(o, "  {err}");
    }
    match &d.link {
        Some(l) => {
            let _ = writeln!(o, "  link: {} ({}, uuid {})", l.dn, l.state, opt(&l.uuid));
        }
        None => {
            let _ = writeln!(
                o,
                "  link: none (hrsync never created or adopted an account for them)"
            );
        }
    }
    match &d.entry {
        Some(en) => {
            let _ = writeln!(
                o,
                "  entry: {}{}",
                en.dn,
                if en.disabled { " (disabled)" } else { "" }
            );
            for (k, v) in &en.attributes {
                let _ = writeln!(o, "    {k}: {}", v.join(" | "));
            }
        }
        None => {
            let _ = writeln!(o, "  entry: none");
        }
    }
    for c in &d.candidates {
        let _ = writeln!(o, "  candidate: {} (key {})", c.dn, opt(&c.key));
    }

    if !e.plan.changes.is_empty() || !e.plan.findings.is_empty() {
        let _ = writeln!(o, "\nA plan would:");
        for c in &e.plan.changes {
            let _ = writeln!(
                o,
                "  {} {}{}",
                c.kind.as_str(),
                c.dn,
                c.new_dn
                    .as_ref()
                    .map(|n| format!(" → {n}"))
                    .unwrap_or_default()
            );
            let _ = writeln!(o, "    why: {}", c.reason);
            for a in &c.attrs {
                let _ = writeln!(o, "    {}: {:?} → {:?}", a.attr, a.before, a.after);
            }
        }
        for f in &e.plan.findings {
            let _ = writeln!(o, "  {}: {}", f.severity, f.message);
        }
    }
    if !e.plan.notes.is_empty() {
        let _ = writeln!(o, "\nNotes:");
        for n in &e.plan.notes {
            let _ = writeln!(o, "  {n}");
        }
    }

    let _ = writeln!(o, "\nAudit (newest first):");
    if e.audit.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for a in &e.audit {
        let _ = writeln!(
            o,
            "  {}  run {} {} {} {} — {}",
            a.at,
            a.run_id,
            a.kind,
            a.dn,
            if a.ok { "ok" } else { "FAILED" },
            a.reason
        );
    }
    let _ = writeln!(o, "\nOrchestrations (newest first):");
    if e.orchestrations.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for x in &e.orchestrations {
        let _ = writeln!(
            o,
            "  #{} {} on {}: {} (step {}){}",
            x.id,
            x.orchestration,
            x.event,
            x.status,
            x.step,
            x.last_error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    o
}
