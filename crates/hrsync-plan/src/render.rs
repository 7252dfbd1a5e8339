//! The plan as an operator reads it on a terminal.

use hrsync_model::{ChangeKind, Plan};
use std::fmt::Write;

fn vals(v: &[String]) -> String {
    match v.len() {
        0 => "(none)".to_string(),
        1 => format!("{:?}", v[0]),
        _ => format!("{v:?}"),
    }
}

/// Renders the plan. `detail` adds attribute lines; `limit` caps the number of changes shown.
pub fn render_text(plan: &Plan, detail: bool, limit: Option<usize>) -> String {
    let mut s = String::new();
    let f = &plan.fetch;
    let _ = writeln!(s, "Plan for mapping {:?} -> {}", plan.mapping, plan.target);
    if f.complete {
        let _ = writeln!(
            s,
            "HR fetch {}/{}: complete, {} records in {} page(s), {:.2} s",
            f.integration,
            f.endpoint,
            f.records,
            f.pages,
            f.duration_ms as f64 / 1000.0
        );
    } else {
        let _ = writeln!(
            s,
            "HR fetch {}/{}: INCOMPLETE after {} page(s), {} records: {}",
            f.integration,
            f.endpoint,
            f.pages,
            f.records,
            f.error.as_deref().unwrap_or("unknown error")
        );
    }
    for n in &f.notes {
        let _ = writeln!(s, "  note: {n}");
    }
    if let Some(r) = &plan.leavers_withheld_reason {
        let _ = writeln!(
            s,
            "Leavers withheld: {r} ({} not planned)",
            plan.leavers_withheld
        );
    }
    let _ = writeln!(s);
    let shown = limit.unwrap_or(usize::MAX);
    for c in plan.changes.iter().take(shown) {
        let sym = match c.kind {
            ChangeKind::Create => "+ create ",
            ChangeKind::CreateDisabled => "+ create (disabled until start)",
            ChangeKind::Update => "~ update ",
            ChangeKind::Enable => "^ enable ",
            ChangeKind::Disable => "- disable",
            ChangeKind::Delete => "x delete",
        };
        let _ = writeln!(s, "{sym} {}  [{}]  {}", c.dn, c.key, c.reason);
        if let Some(n) = &c.new_dn {
            let _ = writeln!(s, "      rename -> {n}");
        }
        if detail {
            for a in &c.attrs {
                if matches!(c.kind, ChangeKind::Create | ChangeKind::CreateDisabled) {
                    let _ = writeln!(s, "      {}: {}", a.attr, vals(&a.after));
                } else {
                    let _ = writeln!(
                        s,
                        "      {}: {} -> {}",
                        a.attr,
                        vals(&a.before),
                        vals(&a.after)
                    );
                }
            }
        }
    }
    if plan.changes.len() > shown {
        let _ = writeln!(
            s,
            "  … {} more change(s) (use --json for all)",
            plan.changes.len() - shown
        );
    }
    if !plan.held.is_empty() {
        let _ = writeln!(s, "\nHeld by blast-radius thresholds (not applied):");
        for r in &plan.held_reasons {
            let _ = writeln!(s, "  {r}");
        }
        for c in plan.held.iter().take(shown) {
            let _ = writeln!(
                s,
                "= held {} {}  [{}]  {}",
                c.kind.as_str(),
                c.dn,
                c.key,
                c.reason
            );
        }
        if plan.held.len() > shown {
            let _ = writeln!(s, "  … {} more held change(s)", plan.held.len() - shown);
        }
    }
    for x in plan.findings.iter().take(shown) {
        let field = x
            .field
            .as_deref()
            .map(|f| format!(" [{f}]"))
            .unwrap_or_default();
        let _ = writeln!(s, "! {} {}{}: {}", x.severity, x.subject, field, x.message);
    }
    if plan.findings.len() > shown {
        let _ = writeln!(s, "  … {} more finding(s)", plan.findings.len() - shown);
    }
    let m = plan.summary();
    let _ = writeln!(
        s,
        "\nSummary: {} create, {} update, {} enable, {} disable, {}{} unchanged, {} finding(s){}",
        m.create,
        m.update,
        m.enable,
        m.disable,
        if m.delete > 0 {
            format!("{} delete, ", m.delete)
        } else {
            String::new()
        },
        m.unchanged,
        m.findings,
        if plan.is_empty() {
            " - nothing to do"
        } else {
            ""
        }
    );
    s
}
