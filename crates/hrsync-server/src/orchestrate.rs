//! Orchestration templates: ordered steps (directory actions, webhooks, delays, conditions on
//! the previous step) run for one person, triggered by lifecycle events of an apply or on
//! demand. Every instance lives in the state database's outbox; a step's completion is
//! committed before the next one starts, so after a crash or restart the remaining steps run
//! and finished ones never run again. A step interrupted mid-way runs again: directory actions
//! are idempotent, and webhooks carry the same `Idempotency-Key` (`hrsync-<id>-<step>`) on every
//! attempt, so a receiver can drop the repeat. A step that keeps failing sends the instance to
//! the dead-letter list (`hrsync orchestrate list --dead`, `replay`, `cancel`). Every directory
//! write of a step is audited (trigger `orchestration`, with the instance and step).

use chrono::Utc;
use hrsync_config::Config;
use hrsync_config::daemon::{MAX_DELAY_SECS, OnError, RawOrchestration, RawStep, When};
use hrsync_directory::Directory;
use hrsync_engine::orchestrate::{Hook, call};
use hrsync_model::{AttrChange, AttrName, Change, ChangeKind, dn};
use hrsync_state::{DirectoryWrite, OutboxRow, StepDone, Store, Trigger};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Flattens an HR record into `hr.<dotted path>` macro values (scalars; lists of scalars
/// joined by ", ").
pub fn flatten_hr(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten_hr(&format!("{prefix}.{k}"), x, out);
            }
        }
        Value::Array(a) => {
            let parts: Vec<String> = a
                .iter()
                .filter_map(|x| match x {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                })
                .collect();
            out.insert(prefix.to_string(), parts.join(", "));
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        Value::Number(n) => {
            out.insert(prefix.to_string(), n.to_string());
        }
        Value::Bool(b) => {
            out.insert(prefix.to_string(), b.to_string());
        }
        Value::Null => {
            out.insert(prefix.to_string(), String::new());
        }
    }
}

/// How long a worker holds a step; a worker that dies mid-step leaves it to another after this.
const STEP_LEASE: chrono::Duration = chrono::Duration::minutes(15);

/// Everything needed to run steps: templates, webhooks, directory connections per mapping.
pub struct Worker {
    cfg: Arc<Config>,
    hooks: BTreeMap<String, Hook>,
    client: reqwest::Client,
    dirs: tokio::sync::Mutex<HashMap<String, Arc<Directory>>>,
    /// Base of the retry backoff of failed steps.
    pub retry_base: chrono::Duration,
    /// Who the audit names for the steps' directory writes (the user this process runs as).
    operator: String,
}

/// What one step did.
struct Outcome {
    ok: bool,
    detail: String,
    /// For a delay: when the next step may run.
    wait: Option<chrono::Duration>,
}

/// What became of one due step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepResult {
    /// Another worker had claimed it: not run here.
    Claimed,
    /// Not run: its `when` condition did not hold, or there was no step left.
    Skipped,
    Ok,
    /// Failed with `on_error = "continue"`: recorded, the instance goes on.
    FailedContinued,
    /// Failed; it is retried later (attempts left).
    FailedRetrying,
    /// Failed for good: the instance is on the dead-letter list.
    Dead,
}

/// What one round of the worker did (`hrsync orchestrate work`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkReport {
    /// Due steps taken up (all of the below).
    pub ran: usize,
    pub ok: usize,
    /// Failed steps: `failed_continued + failed_retrying + dead`.
    pub failed: usize,
    /// Failed with `on_error = "continue"` (the instance went on).
    pub failed_continued: usize,
    /// Failed and retried later.
    pub failed_retrying: usize,
    /// Failed for good: the instance went to the dead-letter list.
    pub dead: usize,
    /// Not run: the `when` condition did not hold.
    pub skipped: usize,
    /// Claimed by another worker meanwhile.
    pub claimed_elsewhere: usize,
}

impl WorkReport {
    fn count(&mut self, r: StepResult) {
        self.ran += 1;
        match r {
            StepResult::Claimed => self.claimed_elsewhere += 1,
            StepResult::Skipped => self.skipped += 1,
            StepResult::Ok => self.ok += 1,
            StepResult::FailedContinued => self.failed_continued += 1,
            StepResult::FailedRetrying => self.failed_retrying += 1,
            StepResult::Dead => self.dead += 1,
        }
        self.failed = self.failed_continued + self.failed_retrying + self.dead;
    }
}

/// The attempt limit of a step and where it comes from (for messages).
pub struct StepLimit {
    pub max_attempts: u32,
    /// `of step 2 of orchestration "welcome"`, `of orchestration "welcome"`.
    pub source: String,
}

impl StepLimit {
    /// The limit of step `idx` of `t`: the step's own `max_attempts`, else the template's.
    pub fn of(t: &RawOrchestration, idx: usize) -> StepLimit {
        match t.steps.get(idx).and_then(|s| s.max_attempts) {
            Some(n) => StepLimit {
                max_attempts: n.max(1),
                source: format!("of step {} of orchestration {:?}", idx + 1, t.name),
            },
            None => StepLimit {
                max_attempts: t.max_attempts.max(1),
                source: format!("of orchestration {:?}", t.name),
            },
        }
    }
}

/// `webhook notify`, `set_attribute description`, `enable`: a step for messages.
fn step_name(s: &RawStep) -> String {
    let arg = match s.action.as_str() {
        "webhook" => s.webhook.as_deref(),
        "set_attribute" => s.attribute.as_deref(),
        "add_group" | "remove_group" => s.group.as_deref(),
        "move" => s.to.as_deref(),
        _ => None,
    };
    match arg {
        Some(a) => format!("{} {a}", s.action),
        None => s.action.clone(),
    }
}

impl Worker {
    pub fn new(cfg: Arc<Config>) -> anyhow::Result<Worker> {
        let hooks = compile_hooks(&cfg)?;
        let client = hrsync_webhook::client()?;
        Ok(Worker {
            cfg,
            hooks,
            client,
            dirs: tokio::sync::Mutex::new(HashMap::new()),
            retry_base: chrono::Duration::seconds(30),
            operator: hrsync_state::operator_name(),
        })
    }

    fn template(&self, name: &str) -> Option<&RawOrchestration> {
        self.cfg.raw.orchestrations.iter().find(|o| o.name == name)
    }

    async fn directory(&self, mapping: &str) -> anyhow::Result<Arc<Directory>> {
        let mut dirs = self.dirs.lock().await;
        if let Some(d) = dirs.get(mapping) {
            return Ok(d.clone());
        }
        let job = self.cfg.job(mapping)?;
        let d = Arc::new(Directory::connect(job.directory.clone()).await?);
        dirs.insert(mapping.to_string(), d.clone());
        Ok(d)
    }

    /// Runs every due step, following an instance from step to step while its next step is
    /// due at once; returns how many steps ran.
    pub async fn run_due(&self, store: &mut Store) -> anyhow::Result<usize> {
        Ok(self.run_due_report(store).await?.ran)
    }

    /// [`Worker::run_due`], with what became of the steps.
    pub async fn run_due_report(&self, store: &mut Store) -> anyhow::Result<WorkReport> {
        let mut report = WorkReport::default();
        loop {
            let due = store.due_outbox(Utc::now(), 100)?;
            if due.is_empty() {
                return Ok(report);
            }
            for row in due {
                let r = self.run_step(store, &row).await?;
                report.count(r);
            }
        }
    }

    /// Runs the next step of one instance and records it (unless another worker claimed it).
    pub async fn run_step(&self, store: &mut Store, row: &OutboxRow) -> anyhow::Result<StepResult> {
        let now = Utc::now();
        if !store.claim(row.id, row.step, now + STEP_LEASE, now)? {
            return Ok(StepResult::Claimed);
        }
        let Some(t) = self.template(&row.orchestration) else {
            store.step_failed(
                row.id,
                row.step,
                &format!(
                    "orchestration {:?} is not in the configuration any more",
                    row.orchestration
                ),
                None,
                now,
            )?;
            return Ok(StepResult::Dead);
        };
        let idx = usize::try_from(row.step).unwrap_or(usize::MAX);
        let Some(step) = t.steps.get(idx) else {
            store.step_done(
                row.id,
                &StepDone {
                    step: row.step,
                    ok: row.last_ok,
                    detail: "no more steps".into(),
                    next_at: now,
                    finished: true,
                },
                now,
            )?;
            return Ok(StepResult::Skipped);
        };
        let last = idx + 1 >= t.steps.len();
        let runs = match step.when {
            When::Always => true,
            When::PreviousOk => row.last_ok,
            When::PreviousFailed => !row.last_ok,
        };
        if !runs {
            store.step_done(
                row.id,
                &StepDone {
                    step: row.step,
                    ok: row.last_ok,
                    detail: format!(
                        "skipped ({:?} and the previous step ok = {})",
                        step.when, row.last_ok
                    ),
                    next_at: now,
                    finished: last,
                },
                now,
            )?;
            return Ok(StepResult::Skipped);
        }
        let out = self.execute(store, row, idx, step).await;
        if !out.ok && step.action != "delay" {
            // The connection may have gone stale (AD drops idle ones): the next try reconnects.
            self.dirs.lock().await.remove(&row.mapping);
        }
        let now = Utc::now();
        tracing::info!(
            orchestration = %row.orchestration,
            id = row.id,
            step = row.step,
            action = %step.action,
            key = %row.hr_key,
            ok = out.ok,
            "{}",
            out.detail
        );
        metrics::counter!("hrsync_orchestration_steps_total", "orchestration" => row.orchestration.clone(), "result" => if out.ok { "ok" } else { "failed" }).increment(1);
        if out.ok || step.on_error == OnError::Continue {
            store.step_done(
                row.id,
                &StepDone {
                    step: row.step,
                    ok: out.ok,
                    detail: out.detail,
                    next_at: now + out.wait.unwrap_or_else(chrono::Duration::zero),
                    finished: last,
                },
                now,
            )?;
            return Ok(if out.ok {
                StepResult::Ok
            } else {
                StepResult::FailedContinued
            });
        }
        let attempts = row.attempts + 1;
        let limit = StepLimit::of(t, idx);
        let retry_at = (attempts < i64::from(limit.max_attempts)).then(|| {
            let factor = 1i32 << attempts.clamp(0, 10);
            now + self.retry_base * factor
        });
        let step_text = format!("step {}/{} ({})", idx + 1, t.steps.len(), step_name(step));
        let detail = match retry_at {
            Some(at) => format!(
                "{step_text} failed, attempt {attempts} of {} (max_attempts = {} {}), retried at {}: {}",
                limit.max_attempts,
                limit.max_attempts,
                limit.source,
                at.format("%Y-%m-%d %H:%M:%S UTC"),
                out.detail
            ),
            None => format!(
                "gave up after {attempts} attempt(s) of {step_text}: max_attempts = {} {}; on the dead-letter list (hrsync orchestrate replay {id}, or cancel {id}). Last failure: {}",
                limit.max_attempts,
                limit.source,
                out.detail,
                id = row.id
            ),
        };
        store.step_failed(row.id, row.step, &detail, retry_at, now)?;
        Ok(if retry_at.is_some() {
            StepResult::FailedRetrying
        } else {
            StepResult::Dead
        })
    }

    async fn execute(
        &self,
        store: &mut Store,
        row: &OutboxRow,
        idx: usize,
        step: &RawStep,
    ) -> Outcome {
        let fail = |detail: String| Outcome {
            ok: false,
            detail,
            wait: None,
        };
        if step.action == "delay" {
            let secs = step.seconds.unwrap_or(0);
            return Outcome {
                ok: true,
                detail: format!("waiting {secs} s"),
                wait: Some(chrono::Duration::seconds(
                    i64::try_from(secs.min(MAX_DELAY_SECS)).unwrap_or(0),
                )),
            };
        }
        let dir = match self.directory(&row.mapping).await {
            Ok(d) => d,
            Err(e) => return fail(format!("cannot connect to the directory: {e:#}")),
        };
        let job = match self.cfg.job(&row.mapping) {
            Ok(j) => j,
            Err(e) => return fail(format!("mapping {:?}: {e}", row.mapping)),
        };
        // The account as it is now (it may have moved since the event).
        let entry = match dir.find_by(&job.directory.key_attribute, &row.hr_key).await {
            Ok(mut v) if !v.is_empty() => v.remove(0),
            Ok(_) => {
                return fail(format!(
                    "no account with {} = {} (deleted?)",
                    job.directory.key_attribute, row.hr_key
                ));
            }
            Err(e) => return fail(format!("cannot read the account: {e}")),
        };
        let one = |kind: ChangeKind, new_dn: Option<String>, attrs: Vec<AttrChange>| Change {
            kind,
            key: row.hr_key.clone(),
            dn: entry.dn.clone(),
            new_dn,
            uuid: entry.uuid.clone(),
            attrs,
            reason: format!(
                "orchestration {} #{} step {} {} (event {})",
                row.orchestration,
                row.id,
                idx + 1,
                step.action,
                row.event
            ),
        };
        // Every directory write of a step is audited like the changes of a run.
        let audit =
            |store: &mut Store, change: &Change, ok: bool, rc: Option<u32>, message: &str| {
                let res = store.record_write(&DirectoryWrite {
                    mapping: &row.mapping,
                    change,
                    ok,
                    rc,
                    message,
                    trigger: Trigger::Orchestration,
                    operator: &self.operator,
                    outbox: Some((row.id, row.step)),
                    at: Utc::now(),
                });
                match res {
                    Ok(_) => String::new(),
                    Err(e) => {
                        tracing::error!(
                            id = row.id,
                            step = row.step,
                            "cannot audit the step's directory write: {e}"
                        );
                        format!(" (NOT AUDITED: {e})")
                    }
                }
            };
        let change = match step.action.as_str() {
            "enable" => one(ChangeKind::Enable, None, vec![]),
            "disable" => one(ChangeKind::Disable, None, vec![]),
            "move" => {
                let to = step.to.clone().unwrap_or_default();
                let Some(leaf) = dn::Dn::parse(&entry.dn)
                    .ok()
                    .and_then(|d| d.leaf().cloned())
                else {
                    return fail(format!("cannot parse {}", entry.dn));
                };
                one(
                    ChangeKind::Update,
                    Some(dn::child(&leaf.attr, &leaf.value, &to)),
                    vec![],
                )
            }
            "add_group" | "remove_group" => {
                let g = step.group.clone().unwrap_or_default();
                let (before, after) = if step.action == "add_group" {
                    (vec![], vec![g])
                } else {
                    (vec![g], vec![])
                };
                one(
                    ChangeKind::Update,
                    None,
                    vec![AttrChange {
                        attr: AttrName::new("memberOf"),
                        before,
                        after,
                    }],
                )
            }
            "set_attribute" => {
                let values = match self.values(row, &entry, &job, None).await {
                    Ok(v) => v,
                    Err(e) => return fail(e),
                };
                let tpl = step.value.clone().unwrap_or_default();
                let value = match hrsync_source::rest::template::Template::parse(&tpl)
                    .map_err(|e| e.to_string())
                    .and_then(|t| {
                        t.render(&values, hrsync_source::rest::template::Context::Raw)
                            .map_err(|e| e.to_string())
                    }) {
                    Ok(v) => v,
                    Err(e) => return fail(format!("value: {e}")),
                };
                let attr = AttrName::new(step.attribute.clone().unwrap_or_default());
                let before = entry.attrs.get(&attr).cloned().unwrap_or_default();
                one(
                    ChangeKind::Update,
                    None,
                    vec![AttrChange {
                        attr,
                        before,
                        after: vec![value],
                    }],
                )
            }
            "reset_password" => {
                let account = entry
                    .attrs
                    .get(&AttrName::new("sAMAccountName"))
                    .and_then(|v| v.first().cloned())
                    .unwrap_or_else(|| row.hr_key.clone());
                // The audit records that the password was replaced, never the password.
                let change = one(
                    ChangeKind::Update,
                    None,
                    vec![AttrChange {
                        attr: AttrName::new("unicodePwd"),
                        before: vec![],
                        after: vec!["[redacted]".into()],
                    }],
                );
                let res =
                    hrsync_directory::reset_password(&dir, &row.hr_key, &entry.dn, &account).await;
                return match res {
                    Ok(d) => {
                        let note = audit(store, &change, true, None, &d);
                        Outcome {
                            ok: true,
                            detail: format!("{d}{note}"),
                            wait: None,
                        }
                    }
                    Err(e) => {
                        let note = audit(store, &change, false, None, &e);
                        fail(format!("{e}{note}"))
                    }
                };
            }
            "webhook" => {
                let name = step.webhook.clone().unwrap_or_default();
                return self.webhook(store, row, &entry, &job, &name).await;
            }
            other => return fail(format!("unknown action {other:?}")),
        };
        let outcomes = hrsync_directory::apply(&dir, std::slice::from_ref(&change), |_| {}).await;
        match outcomes.into_iter().next() {
            Some(o) if o.ok => {
                let note = audit(store, &change, true, o.rc, &o.message);
                Outcome {
                    ok: true,
                    detail: format!("{} {}{note}", step.action, o.dn),
                    wait: None,
                }
            }
            Some(o) => {
                let note = audit(store, &change, false, o.rc, &o.message);
                fail(format!("{} failed: {}{note}", step.action, o.message))
            }
            None => {
                let note = audit(store, &change, false, None, "nothing applied");
                fail(format!("nothing applied{note}"))
            }
        }
    }

    /// Macro values: the account (`user.<attr>`), the HR record (`hr.<path>`), and `key`,
    /// `dn`, `event`, `orchestration`, `webhook`.
    async fn values(
        &self,
        row: &OutboxRow,
        entry: &hrsync_model::DirEntry,
        job: &hrsync_config::Job,
        webhook: Option<&str>,
    ) -> Result<BTreeMap<String, String>, String> {
        let hr = hr_record(job, &row.hr_key).await?;
        let mut v = macro_values(&row.hr_key, &row.event, Some(entry), hr);
        v.insert("orchestration".into(), row.orchestration.clone());
        v.insert("webhook".into(), webhook.unwrap_or_default().to_string());
        Ok(v)
    }

    async fn webhook(
        &self,
        store: &mut Store,
        row: &OutboxRow,
        entry: &hrsync_model::DirEntry,
        job: &hrsync_config::Job,
        name: &str,
    ) -> Outcome {
        let Some(h) = self.hooks.get(name) else {
            return Outcome {
                ok: false,
                detail: format!("no webhook {name:?}"),
                wait: None,
            };
        };
        let values = match self.values(row, entry, job, Some(name)).await {
            Ok(v) => v,
            Err(e) => {
                return Outcome {
                    ok: false,
                    detail: e,
                    wait: None,
                };
            }
        };
        let key = format!("hrsync-{}-{}", row.id, row.step);
        let d = call(&self.client, h, &values, Some(&key)).await;
        let _ = store.record_delivery(
            name,
            Some(&row.hr_key),
            Some((row.id, row.step)),
            d.ok,
            d.status,
            d.attempts,
            d.duration_ms,
            &serde_json::to_value(&d).unwrap_or_default(),
            Utc::now(),
        );
        metrics::counter!("hrsync_webhook_deliveries_total", "webhook" => name.to_string(), "result" => if d.ok { "ok" } else { "failed" }).increment(1);
        Outcome {
            ok: d.ok,
            detail: match (&d.error, d.status) {
                (Some(e), _) => e.clone(),
                (None, Some(s)) => format!("webhook {name}: HTTP {s}"),
                (None, None) => format!("webhook {name}: no answer"),
            },
            wait: None,
        }
    }
}

/// The macros of one person: `key`, `event`, `dn`, the account's attributes as `user.<attr>`
/// (also lower-cased), the HR record as `hr.<path>`.
pub fn macro_values(
    key: &str,
    event: &str,
    entry: Option<&hrsync_model::DirEntry>,
    hr: Option<serde_json::Map<String, serde_json::Value>>,
) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert("key".into(), key.to_string());
    v.insert("event".into(), event.to_string());
    if let Some(e) = entry {
        v.insert("dn".into(), e.dn.clone());
        v.insert("user.dn".into(), e.dn.clone());
        for (a, vals) in &e.attrs {
            v.insert(format!("user.{}", a.as_str()), vals.join(", "));
            v.insert(
                format!("user.{}", a.as_str().to_ascii_lowercase()),
                vals.join(", "),
            );
        }
    }
    if let Some(hr) = hr {
        flatten_hr("hr", &serde_json::Value::Object(hr), &mut v);
    }
    v
}

/// The HR record of one person (a targeted fetch), as JSON fields.
pub async fn hr_record(
    job: &hrsync_config::Job,
    key: &str,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, String> {
    let spec = job.mapping.spec();
    let mut source = job.source.clone();
    let only = std::collections::BTreeSet::from([key.to_string()]);
    source.restrict(&spec.primary_key, &only);
    let mut found = None;
    source
        .fetch_with(None, |rec| {
            if found.is_none()
                && hrsync_model::record::lookup_scalar(&rec.fields, &spec.primary_key).as_deref()
                    == Some(key)
            {
                found = Some(rec.fields);
            }
        })
        .await
        .map_err(|e| format!("cannot read the HR record: {e}"))?;
    Ok(found)
}

/// One person an on-demand orchestration was queued for.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Queued {
    /// The instance (the outbox id).
    pub id: i64,
    /// The person's HR primary key.
    pub hr_key: String,
    /// Their account, when the mapping links one (else empty: the steps find it).
    pub dn: String,
}

/// Queues template `template` (event `manual`) for `users` (HR keys) and every keyed member
/// of `groups` (DNs), each once, with the links of `mapping` (`hrsync orchestrate run`,
/// `POST /api/v1/orchestrations/{name}/run`). The directory is read only to expand groups;
/// the steps run on the orchestration worker.
pub async fn enqueue_for(
    cfg: &Config,
    template: &str,
    mapping: &str,
    users: Vec<String>,
    groups: &[String],
) -> anyhow::Result<Vec<Queued>> {
    if !cfg.raw.orchestrations.iter().any(|o| o.name == template) {
        anyhow::bail!("no [[orchestration]] named {template:?}");
    }
    let users = if groups.is_empty() {
        crate::webhook_test::once_each(users)
    } else {
        let job = cfg.job(mapping)?;
        let dir = Directory::connect(job.directory.clone()).await?;
        let mut users = users;
        let mut failed = None;
        for g in groups {
            match dir.group_member_keys(g).await {
                Ok(keys) => users.extend(keys),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        dir.close().await;
        if let Some(e) = failed {
            return Err(e.into());
        }
        crate::webhook_test::once_each(users)
    };
    let mut store = Store::open(&cfg.state_path())?;
    let links = store.links(mapping)?;
    let mut out = Vec::new();
    for u in users {
        let dn = links.get(&u).map(|l| l.dn.clone()).unwrap_or_default();
        let id = store.enqueue(template, mapping, &u, &dn, "manual", Utc::now())?;
        out.push(Queued { id, hr_key: u, dn });
    }
    Ok(out)
}

/// Compiles every `[[webhook]]` with the credentials of its `auth` integration.
pub fn compile_hooks(cfg: &Config) -> anyhow::Result<BTreeMap<String, Hook>> {
    let mut out = BTreeMap::new();
    for w in &cfg.raw.webhooks {
        let hook = hrsync_webhook::Webhook::compile(w)
            .map_err(|e| anyhow::anyhow!("webhook {:?}: {e}", w.name))?;
        let (creds, policy) = match &w.auth {
            Some(i) => cfg.webhook_credentials(i)?,
            None => Default::default(),
        };
        out.insert(
            w.name.clone(),
            Hook {
                hook,
                creds,
                policy,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hr_records_flatten_to_dotted_macros() {
        let mut m = BTreeMap::new();
        flatten_hr(
            "hr",
            &serde_json::json!({"id": 7, "department": {"display": "Sales"}, "tags": ["a", "b"], "x": null}),
            &mut m,
        );
        assert_eq!(m["hr.id"], "7");
        assert_eq!(m["hr.department.display"], "Sales");
        assert_eq!(m["hr.tags"], "a, b");
        assert_eq!(m["hr.x"], "");
    }
}
