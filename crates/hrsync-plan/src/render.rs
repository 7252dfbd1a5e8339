//! The plan as an operator reads it on a terminal.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hrsync_model::{ChangeKind, Plan, dn};
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
            ChangeKind::FinishCreate => "^ finish ",
            ChangeKind::Disable => "- disable",
            ChangeKind::Delete => "x delete",
        };
        let _ = writeln!(s, "{sym} {}  [{}]  {}", c.dn, c.key, c.reason);
        if let Some(n) = &c.new_dn {
            let _ = writeln!(s, "      rename -> {n}");
        }
        if detail {
            for a in &c.attrs {
                if c.kind.creates() {
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
    if !plan.awaiting_approval.is_empty() {
        let _ = writeln!(
            s,
            "\nAwaiting approval (not applied until approved with `hrsync approve`):"
        );
        for c in plan.awaiting_approval.iter().take(shown) {
            let _ = writeln!(
                s,
                "! approve {} {}  [{}]  {}",
                c.kind.as_str(),
                c.dn,
                c.key,
                c.reason
            );
        }
        if plan.awaiting_approval.len() > shown {
            let _ = writeln!(
                s,
                "  … {} more change(s) awaiting approval",
                plan.awaiting_approval.len() - shown
            );
        }
    }
    if !plan.stale.is_empty() {
        let _ = writeln!(
            s,
            "\nStale (skipped: what the saved plan assumed no longer holds; make a new plan):"
        );
        for st in plan.stale.iter().take(shown) {
            let c = &st.change;
            let _ = writeln!(
                s,
                "# stale {} {}  [{}]  {}",
                c.kind.as_str(),
                c.dn,
                c.key,
                st.reason
            );
        }
        if plan.stale.len() > shown {
            let _ = writeln!(s, "  … {} more stale change(s)", plan.stale.len() - shown);
        }
    }
    if !plan.review.is_empty() {
        let _ = writeln!(
            s,
            "\nAwaiting review (nothing is done for these people; decide with `hrsync review`):"
        );
        for r in plan.review.iter().take(shown) {
            let _ = writeln!(s, "? review {}: {}", r.key, r.reason);
            for c in &r.candidates {
                let _ = writeln!(
                    s,
                    "    candidate {}{}{}{}",
                    c.dn,
                    c.key
                        .as_deref()
                        .map(|k| format!("  [key {k}]"))
                        .unwrap_or_default(),
                    if c.disabled { "  (disabled)" } else { "" },
                    if c.matched_on.is_empty() {
                        String::new()
                    } else {
                        format!("  matched on {}", c.matched_on.join(", "))
                    }
                );
            }
        }
        if plan.review.len() > shown {
            let _ = writeln!(s, "  … {} more to review", plan.review.len() - shown);
        }
    }
    if !plan.unconfirmed.is_empty() {
        let _ = writeln!(
            s,
            "\nMissing from HR, not yet confirmed as leavers (nothing is done to them in this run):"
        );
        for c in plan.unconfirmed.iter().take(shown) {
            let _ = writeln!(s, "? missing {}  [{}]  {}", c.dn, c.key, c.reason);
        }
        if plan.unconfirmed.len() > shown {
            let _ = writeln!(s, "  … {} more", plan.unconfirmed.len() - shown);
        }
    }
    if !plan.orphans.is_empty() {
        let _ = writeln!(
            s,
            "\nNot in HR, not managed here ({} orphan(s): accounts this mapping never created or adopted; never changed; `hrsync orphans` lists them all):",
            plan.orphans.len()
        );
        for o in plan.orphans.iter().take(shown.min(10)) {
            let _ = writeln!(
                s,
                "  orphan {}  [{}]{}",
                o.dn,
                o.key,
                if o.disabled { "  (disabled)" } else { "" }
            );
        }
        if plan.orphans.len() > shown.min(10) {
            let _ = writeln!(s, "  … {} more", plan.orphans.len() - shown.min(10));
        }
    }
    if !plan.not_this_mappings_job.is_empty() {
        let actions = plan
            .actions
            .as_ref()
            .map(|a| a.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "\nNot this mapping's job (its actions: {actions}; left to other mappings, never applied here):\n  {}",
            not_its_job(plan)
        );
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
        "\nSummary: {} create, {} update, {} enable, {} disable, {}{} unchanged, {} finding(s){}{}{}",
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
        if plan.review.is_empty() {
            String::new()
        } else {
            format!(", {} to review", plan.review.len())
        },
        if plan.not_this_mappings_job.is_empty() {
            String::new()
        } else {
            format!(
                ", {} not this mapping's job",
                plan.not_this_mappings_job.values().sum::<usize>()
            )
        },
        match (
            plan.is_empty(),
            plan.held.len() + plan.awaiting_approval.len() + plan.stale.len(),
            plan.unconfirmed.len(),
        ) {
            (true, 0, 0) => " - nothing to do".to_string(),
            (_, 0, 0) => String::new(),
            (_, _, u) => {
                let mut parts = Vec::new();
                let h = plan.held.len();
                if h > 0 {
                    parts.push(format!("{h} held"));
                }
                let a = plan.awaiting_approval.len();
                if a > 0 {
                    parts.push(format!("{a} awaiting approval"));
                }
                let st = plan.stale.len();
                if st > 0 {
                    parts.push(format!("{st} stale"));
                }
                if u > 0 {
                    parts.push(format!("{u} missing, unconfirmed"));
                }
                format!(", {}", parts.join(", "))
            }
        }
    );
    s
}

/// `1 create, 2 disable`: the changes a mapping's actions left to others, per kind.
pub fn not_its_job(plan: &Plan) -> String {
    plan.not_this_mappings_job
        .iter()
        .map(|(a, n)| format!("{n} {a}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plan as LDIF change records (RFC 2849), for review or for applying with another tool:
/// `add`, `modify` (`replace`/`delete`), `modrdn` (with `newsuperior` for moves) and `delete`.
/// Disables and enables are written as comments (they are dialect-specific), group memberships
/// as modifications of the groups. Held changes are not included. Passwords never appear.
pub fn render_ldif(plan: &Plan, object_classes: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# hrsync plan for mapping {} -> {} ({})\nversion: 1\n",
        plan.mapping, plan.target, plan.generated_at
    );
    let is_group = |a: &hrsync_model::AttrChange| a.attr.is("memberOf");
    for c in &plan.changes {
        let _ = writeln!(s, "# {} [{}]: {}", c.kind.as_str(), c.key, c.reason);
        match c.kind {
            ChangeKind::Create | ChangeKind::CreateDisabled => {
                let _ = writeln!(s, "{}", ldif_line("dn", &c.dn));
                let _ = writeln!(s, "changetype: add");
                for oc in object_classes {
                    let _ = writeln!(s, "{}", ldif_line("objectClass", oc));
                }
                for a in c.attrs.iter().filter(|a| !is_group(a)) {
                    for v in &a.after {
                        let _ = writeln!(s, "{}", ldif_line(a.attr.as_str(), v));
                    }
                }
                let _ = writeln!(s);
            }
            ChangeKind::Delete => {
                let _ = writeln!(s, "{}\nchangetype: delete\n", ldif_line("dn", &c.dn));
            }
            ChangeKind::Update
            | ChangeKind::Enable
            | ChangeKind::FinishCreate
            | ChangeKind::Disable => {
                if c.kind == ChangeKind::FinishCreate {
                    let _ = writeln!(
                        s,
                        "# (a new initial password is delivered and set, then the account is enabled: not written)"
                    );
                } else if matches!(c.kind, ChangeKind::Enable | ChangeKind::Disable) {
                    let _ = writeln!(
                        s,
                        "# ({} the account: dialect-specific, not written)",
                        c.kind.as_str()
                    );
                }
                let mut dn_now = c.dn.clone();
                if let Some(new) = &c.new_dn
                    && let Ok(b) = dn::Dn::parse(new)
                {
                    let _ = writeln!(s, "{}", ldif_line("dn", &c.dn));
                    let _ = writeln!(s, "changetype: modrdn");
                    if let Some(leaf) = b.leaf() {
                        let rdn = format!("{}={}", leaf.attr, dn::escape_value(&leaf.value));
                        let _ = writeln!(s, "{}", ldif_line("newrdn", &rdn));
                    }
                    let _ = writeln!(s, "deleteoldrdn: 1");
                    if let Some(to) = c.dn_change().moves_to {
                        let _ = writeln!(s, "{}", ldif_line("newsuperior", &to));
                    }
                    let _ = writeln!(s);
                    dn_now = new.clone();
                }
                let mods: Vec<&hrsync_model::AttrChange> =
                    c.attrs.iter().filter(|a| !is_group(a)).collect();
                if !mods.is_empty() {
                    let _ = writeln!(s, "{}\nchangetype: modify", ldif_line("dn", &dn_now));
                    for a in mods {
                        if a.after.is_empty() {
                            let _ = writeln!(s, "delete: {}\n-", a.attr);
                        } else {
                            let _ = writeln!(s, "replace: {}", a.attr);
                            for v in &a.after {
                                let _ = writeln!(s, "{}", ldif_line(a.attr.as_str(), v));
                            }
                            let _ = writeln!(s, "-");
                        }
                    }
                    let _ = writeln!(s);
                }
            }
        }
        // Group memberships: on the groups.
        for a in c.attrs.iter().filter(|a| is_group(a)) {
            let member = c.new_dn.as_deref().unwrap_or(&c.dn);
            for (op, groups) in [
                (
                    "add",
                    a.after
                        .iter()
                        .filter(|g| !a.before.iter().any(|b| dn::same(b, g)))
                        .collect::<Vec<_>>(),
                ),
                (
                    "delete",
                    a.before
                        .iter()
                        .filter(|g| !a.after.iter().any(|b| dn::same(b, g)))
                        .collect(),
                ),
            ] {
                for g in groups {
                    let _ = writeln!(
                        s,
                        "{}\nchangetype: modify\n{op}: member\n{}\n-\n",
                        ldif_line("dn", g),
                        ldif_line("member", member)
                    );
                }
            }
        }
    }
    s
}

/// `name: value`, or `name:: base64` when the value is not safe as LDIF text (RFC 2849).
fn ldif_line(name: &str, value: &str) -> String {
    let safe = value
        .bytes()
        .all(|b| b.is_ascii() && b != b'\n' && b != b'\r' && b != 0)
        && !value.starts_with([' ', ':', '<'])
        && !value.ends_with(' ');
    if safe {
        format!("{name}: {value}")
    } else {
        format!("{name}:: {}", BASE64.encode(value.as_bytes()))
    }
}

#[cfg(test)]
mod ldif_tests {
    use super::*;

    #[test]
    fn base64_and_unsafe_values() {
        assert_eq!(ldif_line("cn", "Ann"), "cn: Ann");
        assert_eq!(ldif_line("cn", "Zoë"), "cn:: Wm/Dqw==");
        assert_eq!(ldif_line("cn", " lead"), "cn:: IGxlYWQ=");
    }
}
