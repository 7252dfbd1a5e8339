//! Orchestration, the engine's half: the lifecycle events an applied change raises, the
//! orchestration instances they queue in the state database's outbox (at once, as each change
//! succeeds), and the webhook call that orchestration steps and notifications share. The
//! worker that runs the queued steps is the daemon's (`hrsync serve`, `hrsync orchestrate
//! work`).

use chrono::{DateTime, Utc};
use hrsync_config::daemon::RawOrchestration;
use hrsync_model::{Change, ChangeKind};
use hrsync_state::Store;
use std::collections::BTreeMap;

/// The lifecycle events one applied change raises.
pub fn events_of(c: &Change) -> Vec<String> {
    match c.kind {
        // A finished create is the account's creation: the create that began it raised no
        // event (it did not succeed), so `created` comes now, once.
        ChangeKind::Create | ChangeKind::CreateDisabled | ChangeKind::FinishCreate => {
            vec!["created".into()]
        }
        ChangeKind::Enable => vec!["enabled".into(), "rehired".into()],
        ChangeKind::Disable => vec!["disabled".into()],
        ChangeKind::Delete => vec!["deleted".into()],
        ChangeKind::Update => {
            let mut out = vec!["updated".to_string()];
            out.extend(
                c.attrs
                    .iter()
                    .map(|a| format!("updated:{}", a.attr.as_str().to_ascii_lowercase())),
            );
            if c.dn_change().moves_to.is_some() {
                out.push("moved".into());
            }
            out
        }
    }
}

/// The orchestrations an applied change triggers: (template, event).
pub fn triggered<'a>(
    templates: &'a [RawOrchestration],
    mapping: &str,
    c: &Change,
) -> Vec<(&'a str, String)> {
    let events = events_of(c);
    let mut out = Vec::new();
    for t in templates {
        if t.mapping.as_deref().is_some_and(|m| m != mapping) {
            continue;
        }
        if let Some(ev) =
            t.on.iter()
                .find(|on| events.iter().any(|e| e.eq_ignore_ascii_case(on)))
        {
            out.push((t.name.as_str(), ev.to_ascii_lowercase()));
        }
    }
    out
}

/// A compiled webhook, the credentials it borrows and its integration's retry manners.
pub struct Hook {
    pub hook: hrsync_webhook::Webhook,
    pub creds: hrsync_webhook::Credentials,
    pub policy: hrsync_webhook::RetryPolicy,
}

/// Renders and delivers one webhook.
pub async fn call(
    client: &reqwest::Client,
    h: &Hook,
    values: &BTreeMap<String, String>,
    idempotency_key: Option<&str>,
) -> hrsync_webhook::Delivery {
    match h.hook.render(values) {
        Ok(p) => {
            hrsync_webhook::deliver_with(client, &h.hook, &p, &h.creds, idempotency_key, &h.policy)
                .await
        }
        Err(e) => hrsync_webhook::Delivery {
            webhook: h.hook.name().to_string(),
            request: hrsync_webhook::RequestRecord {
                method: h.hook.method().as_str().to_string(),
                url: String::new(),
                headers: Vec::new(),
                body: None,
            },
            attempts: 0,
            status: None,
            response_headers: Vec::new(),
            response_body: String::new(),
            ok: false,
            error: Some(e.to_string()),
            duration_ms: 0,
            notes: Vec::new(),
        },
    }
}

/// Puts the orchestrations an apply's successful changes trigger into the outbox.
pub fn enqueue(
    store: &mut Store,
    templates: &[RawOrchestration],
    mapping: &str,
    applied: &[(&Change, &str)],
    now: DateTime<Utc>,
) -> hrsync_state::Result<usize> {
    let mut n = 0;
    for (c, final_dn) in applied {
        for (t, ev) in triggered(templates, mapping, c) {
            store.enqueue(t, mapping, &c.key, final_dn, &ev, now)?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hrsync_model::{AttrChange, AttrName};

    #[test]
    fn changes_raise_events_and_templates_match_them() {
        let mut c = Change {
            kind: ChangeKind::Update,
            key: "7".into(),
            dn: "uid=a,ou=x,dc=t".into(),
            new_dn: Some("uid=a,ou=y,dc=t".into()),
            uuid: None,
            attrs: vec![AttrChange {
                attr: AttrName::new("departmentNumber"),
                before: vec!["A".into()],
                after: vec!["B".into()],
            }],
            reason: String::new(),
        };
        assert_eq!(
            events_of(&c),
            vec!["updated", "updated:departmentnumber", "moved"]
        );
        let t = |name: &str, on: &[&str], mapping: Option<&str>| RawOrchestration {
            name: name.into(),
            description: String::new(),
            mapping: mapping.map(str::to_string),
            on: on.iter().map(|s| s.to_string()).collect(),
            steps: vec![],
            max_attempts: 1,
        };
        let ts = vec![
            t("dept", &["updated:departmentNumber"], None),
            t("created", &["created"], None),
            t("other-mapping", &["updated"], Some("contractors")),
        ];
        let got: Vec<&str> = triggered(&ts, "staff", &c)
            .into_iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(got, vec!["dept"]);
        c.kind = ChangeKind::Create;
        let got: Vec<&str> = triggered(&ts, "staff", &c)
            .into_iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(got, vec!["created"]);
        // A create finished by a later run (issue 11 §8) is the account's creation: the
        // create that began it did not succeed and raised nothing.
        c.kind = ChangeKind::FinishCreate;
        assert_eq!(events_of(&c), vec!["created"]);
    }
}
