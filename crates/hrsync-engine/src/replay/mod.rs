//! `hrsync replay`: what would a configuration change do to real people? The HR records a
//! full run fetched (its [`snapshot`]) are mapped again with a new configuration and compared
//! (a) with what the configuration of that run makes of them, person by person and attribute
//! by attribute, and (b) with the directory now: the plan the new configuration would make,
//! thresholds included. Nothing is written: not the directory, not a run, not a link.

pub mod snapshot;

use crate::engine::{HrRecordResult, map_record, new_planner, ref_attrs};
use crate::report::EngineError;
use chrono::{DateTime, Utc};
use hrsync_config::{Config, ConfigError};
use hrsync_model::{AttrMap, Change, ChangeKind, DesiredEntry, Finding, PlanSummary};
use hrsync_state::Store;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    State(#[from] hrsync_state::StateError),
    #[error(
        "the configuration run {run} used cannot be read back ({source}); give the old configuration with --old FILE"
    )]
    OldConfig {
        run: i64,
        #[source]
        source: ConfigError,
    },
}

/// What to replay.
pub struct ReplayRequest<'a> {
    /// The new configuration.
    pub new: &'a Config,
    /// The mapping, in the new configuration.
    pub mapping: &'a str,
    /// The run whose snapshot is replayed.
    pub run: i64,
    /// The old configuration; default: the text the run used, kept in its snapshot.
    pub old: Option<&'a Config>,
    /// Examples shown per section.
    pub examples: usize,
    /// Also compare with the directory now (binds with the new configuration's credentials).
    pub directory: bool,
}

/// How many people one attribute changes for.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct AttrCounts {
    /// A value before and a different one after.
    pub changed: usize,
    /// No value before, one after.
    pub added: usize,
    /// A value before, none after (the `{work_emial}` case).
    pub removed: usize,
}

/// One attribute of one person, before and after.
#[derive(Debug, Clone, Serialize)]
pub struct AttrDiff {
    pub attr: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

/// One person the new configuration treats differently from the old one.
#[derive(Debug, Clone, Serialize)]
pub struct PersonDiff {
    pub key: String,
    pub dn_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dn_after: Option<String>,
    pub attrs: Vec<AttrDiff>,
    /// A change of outcome: newly failing (with the error), no longer failing, leaver now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The new configuration against the old one, on the same HR records.
#[derive(Debug, Default, Serialize)]
pub struct VersusOld {
    pub people_changed: usize,
    pub people_unchanged: usize,
    pub attributes: BTreeMap<String, AttrCounts>,
    pub dn_changed: usize,
    pub became_leavers: usize,
    pub no_longer_leavers: usize,
    /// Mapped with the old configuration, refused by the new one.
    pub newly_failing: usize,
    pub no_longer_failing: usize,
    /// People whose DN or unique attribute another person of the snapshot also gets.
    pub collisions_before: usize,
    pub collisions_after: usize,
    pub examples: Vec<PersonDiff>,
}

/// The new configuration against the directory now: the plan it would make.
#[derive(Debug, Serialize)]
pub struct VersusDirectory {
    pub target: String,
    pub summary: PlanSummary,
    /// Attribute counts over the planned updates.
    pub attributes: BTreeMap<String, AttrCounts>,
    pub moves: usize,
    pub renames: usize,
    /// Held by a threshold (a mass change), with the reasons.
    pub held: usize,
    pub held_reasons: Vec<String>,
    pub awaiting_approval: usize,
    /// People refused a DN or a unique name already taken (or wanted twice).
    pub collisions: usize,
    pub errors: usize,
    /// Accounts this mapping manages whose person is not in the snapshot (hired since, or
    /// left): not judged, replay makes no leaver of absence.
    pub managed_not_in_snapshot: usize,
    pub examples: Vec<Change>,
    pub collision_examples: Vec<Finding>,
}

/// What `hrsync replay` found.
#[derive(Debug, Serialize)]
pub struct ReplayReport {
    pub run_id: i64,
    pub mapping: String,
    pub snapshot: String,
    pub fetched_at: DateTime<Utc>,
    pub records: usize,
    pub fields: Vec<String>,
    pub old_config: String,
    pub new_config: String,
    pub versus_old: VersusOld,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versus_directory: Option<VersusDirectory>,
    /// Always false: replay writes nothing.
    pub written: bool,
}

/// One configuration's view of one person.
enum Outcome {
    Mapped(DesiredEntry),
    Failed(String),
}

/// Replays run `req.run` of `req.mapping` with `req.new`.
pub async fn replay(req: ReplayRequest<'_>) -> Result<ReplayReport, ReplayError> {
    let state_path = req.new.state_path();
    let dir = hrsync_config::snapshots::dir_for(&state_path, req.mapping);
    let snap = snapshot::read(&dir, req.run, req.mapping)?;
    let owned_old;
    let (old_cfg, old_label) = match req.old {
        Some(c) => (c, c.path.display().to_string()),
        None => {
            owned_old = Config::parse(&snap.header.config_path, snap.header.config_text.clone())
                .map_err(|source| ReplayError::OldConfig {
                    run: req.run,
                    source,
                })?;
            (
                &owned_old,
                format!(
                    "{} as run {} used it (kept in its snapshot)",
                    snap.header.config_path.display(),
                    req.run
                ),
            )
        }
    };
    let today = snap.header.fetched_at.date_naive();
    let (old_mapper, old_statuses) =
        old_cfg
            .mapper(&snap.header.mapping)
            .map_err(|source| ReplayError::OldConfig {
                run: req.run,
                source,
            })?;
    let (new_mapper, new_statuses) = req.new.mapper(req.mapping)?;
    let dialect = req.new.raw.directory.kind;
    let refs: Vec<hrsync_model::AttrName> = Vec::new();
    let outcome = |m: &hrsync_mapping::Mapper,
                   s: Option<&hrsync_config::statuses::StatusRule>,
                   rec: &hrsync_model::HrRecord| {
        match map_record(m, dialect, None, &refs, s, rec, today, true) {
            HrRecordResult::Mapped(d, _) => Outcome::Mapped(d),
            HrRecordResult::Failed(_, f) => Outcome::Failed(
                f.first()
                    .map(|f| f.message.clone())
                    .unwrap_or_else(|| "not mapped".into()),
            ),
        }
    };
    let mut vs = VersusOld::default();
    let mut before_names = Names::default();
    let mut after_names = Names::default();
    let unique: Vec<String> = new_mapper
        .spec()
        .unique
        .iter()
        .map(|u| u.attr.clone())
        .collect();
    for (i, rec) in snap.records.iter().enumerate() {
        let key = new_mapper
            .key_of(rec)
            .or_else(|| old_mapper.key_of(rec))
            .unwrap_or_else(|| format!("HR record {}", rec.index.max(i)));
        let before = outcome(&old_mapper, old_statuses.as_ref(), rec);
        let after = outcome(&new_mapper, new_statuses.as_ref(), rec);
        if let Outcome::Mapped(d) = &before {
            before_names.add(&key, d, &unique);
        }
        if let Outcome::Mapped(d) = &after {
            after_names.add(&key, d, &unique);
        }
        let diff = compare(&key, &before, &after, &mut vs);
        match diff {
            Some(p) => {
                vs.people_changed += 1;
                if vs.examples.len() < req.examples {
                    vs.examples.push(p);
                }
            }
            None => vs.people_unchanged += 1,
        }
    }
    vs.collisions_before = before_names.colliding();
    vs.collisions_after = after_names.colliding();
    let versus_directory = if req.directory {
        Some(against_directory(&req, &snap.records, today).await?)
    } else {
        None
    };
    Ok(ReplayReport {
        run_id: req.run,
        mapping: req.mapping.to_string(),
        snapshot: snap.path.display().to_string(),
        fetched_at: snap.header.fetched_at,
        records: snap.records.len(),
        fields: snap.header.fields.clone(),
        old_config: old_label,
        new_config: req.new.path.display().to_string(),
        versus_old: vs,
        versus_directory,
        written: false,
    })
}

/// Attributes hrsync uses internally (unique-name candidates), never written as such.
fn internal(attr: &str) -> bool {
    attr.starts_with("hrsync-")
}

fn empty(v: &[String]) -> bool {
    v.iter().all(|s| s.trim().is_empty())
}

/// Counts one attribute's before/after into `counts`; true when it differs.
fn count(
    counts: &mut BTreeMap<String, AttrCounts>,
    attr: &str,
    b: &[String],
    a: &[String],
) -> bool {
    let same = b.len() == a.len() && b.iter().zip(a).all(|(x, y)| x == y);
    if same || (empty(b) && empty(a)) {
        return false;
    }
    let c = counts.entry(attr.to_string()).or_default();
    match (empty(b), empty(a)) {
        (false, true) => c.removed += 1,
        (true, false) => c.added += 1,
        _ => c.changed += 1,
    }
    true
}

fn attr_diffs(
    before: &AttrMap,
    after: &AttrMap,
    counts: &mut BTreeMap<String, AttrCounts>,
) -> Vec<AttrDiff> {
    let names: BTreeSet<&str> = before
        .keys()
        .chain(after.keys())
        .map(|a| a.as_str())
        .filter(|a| !internal(a))
        .collect();
    let none: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for n in names {
        let k = hrsync_model::AttrName::new(n.to_string());
        let b = before.get(&k).unwrap_or(&none);
        let a = after.get(&k).unwrap_or(&none);
        if count(counts, n, b, a) {
            out.push(AttrDiff {
                attr: n.to_string(),
                before: b.clone(),
                after: a.clone(),
            });
        }
    }
    out
}

/// One person under both configurations; `None` when they agree.
fn compare(key: &str, before: &Outcome, after: &Outcome, vs: &mut VersusOld) -> Option<PersonDiff> {
    match (before, after) {
        (Outcome::Mapped(b), Outcome::Mapped(a)) => {
            let attrs = attr_diffs(&b.attrs, &a.attrs, &mut vs.attributes);
            let dn_moved = !hrsync_model::dn::same(&b.dn, &a.dn);
            if dn_moved {
                vs.dn_changed += 1;
            }
            let note = match (b.leaver, a.leaver) {
                (false, true) => {
                    vs.became_leavers += 1;
                    Some(format!(
                        "a leaver now ({})",
                        a.leaver_reason.as_deref().unwrap_or("leaver rule")
                    ))
                }
                (true, false) => {
                    vs.no_longer_leavers += 1;
                    Some("no longer a leaver".to_string())
                }
                _ => None,
            };
            if attrs.is_empty() && !dn_moved && note.is_none() {
                return None;
            }
            Some(PersonDiff {
                key: key.to_string(),
                dn_before: Some(b.dn.clone()),
                dn_after: dn_moved.then(|| a.dn.clone()),
                attrs,
                note,
            })
        }
        (Outcome::Mapped(b), Outcome::Failed(e)) => {
            vs.newly_failing += 1;
            Some(PersonDiff {
                key: key.to_string(),
                dn_before: Some(b.dn.clone()),
                dn_after: None,
                attrs: Vec::new(),
                note: Some(format!("not mapped any more: {e}")),
            })
        }
        (Outcome::Failed(e), Outcome::Mapped(a)) => {
            vs.no_longer_failing += 1;
            Some(PersonDiff {
                key: key.to_string(),
                dn_before: None,
                dn_after: Some(a.dn.clone()),
                attrs: Vec::new(),
                note: Some(format!("mapped now (before: {e})")),
            })
        }
        (Outcome::Failed(_), Outcome::Failed(_)) => None,
    }
}

/// DNs and unique-attribute values per person, to count collisions.
#[derive(Default)]
struct Names {
    /// (what, lowercased value) → keys.
    seen: BTreeMap<(String, String), BTreeSet<String>>,
}

impl Names {
    fn add(&mut self, key: &str, d: &DesiredEntry, unique: &[String]) {
        self.seen
            .entry((
                "dn".into(),
                hrsync_model::dn::Dn::parse(&d.dn)
                    .map(|x| x.normalized())
                    .unwrap_or_else(|_| d.dn.to_lowercase()),
            ))
            .or_default()
            .insert(key.to_string());
        for u in unique {
            let k = hrsync_model::AttrName::new(u.clone());
            for v in d.attrs.get(&k).into_iter().flatten() {
                if !v.trim().is_empty() {
                    self.seen
                        .entry((u.to_ascii_lowercase(), v.to_lowercase()))
                        .or_default()
                        .insert(key.to_string());
                }
            }
        }
    }

    /// People sharing a DN or a unique value with someone else.
    fn colliding(&self) -> usize {
        self.seen
            .values()
            .filter(|k| k.len() > 1)
            .flatten()
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// The plan the new configuration would make against the directory now, from the snapshot's
/// records: read-only (a bind, reads of the schema and the entries, the state's links).
async fn against_directory(
    req: &ReplayRequest<'_>,
    records: &[hrsync_model::HrRecord],
    today: chrono::NaiveDate,
) -> Result<VersusDirectory, ReplayError> {
    let job = req.new.job(req.mapping)?;
    let store = Store::open(&req.new.state_path())?;
    let dir = hrsync_directory::Directory::connect(job.directory.clone())
        .await
        .map_err(EngineError::from)?;
    let schema = crate::engine::read_schema(&dir).await;
    let stored = store.links(&job.mapping.spec().name)?;
    let mut planner = new_planner(
        &job,
        &store,
        stored.values().cloned().collect(),
        Utc::now(),
        hrsync_plan::MissingAction::Ignore,
        false,
    )?;
    let refs = ref_attrs(&job);
    let creates = job.actions.allows(hrsync_model::Action::Create);
    let mut keys = BTreeSet::new();
    for rec in records {
        let r = map_record(
            &job.mapping,
            job.directory.dialect,
            schema.as_deref(),
            &refs,
            job.statuses.as_ref(),
            rec,
            today,
            creates,
        );
        if let HrRecordResult::Mapped(d, _) = &r {
            keys.insert(d.key.clone());
        }
        r.feed(&mut planner);
    }
    dir.snapshot_paced(|e| planner.add_entry(e), None)
        .await
        .map_err(EngineError::from)?;
    let fetch = hrsync_model::FetchReport {
        complete: true,
        records: records.len(),
        ..Default::default()
    };
    let (mut plan, _) = planner.finish(fetch);
    crate::engine::assign_unique(&job, &store, &dir, &mut plan).await?;
    let managed = plan.managed;
    crate::guards::hold(&mut plan, &job.thresholds, managed, &BTreeSet::new(), 0);
    crate::plans::approval::gate(&mut plan, job.approval.as_ref());
    let mut attributes = BTreeMap::new();
    let (mut moves, mut renames) = (0, 0);
    for c in plan
        .changes
        .iter()
        .chain(&plan.held)
        .chain(&plan.awaiting_approval)
    {
        if c.kind == ChangeKind::Update {
            for a in &c.attrs {
                if !internal(a.attr.as_str()) {
                    count(&mut attributes, a.attr.as_str(), &a.before, &a.after);
                }
            }
        }
        let dc = c.dn_change();
        moves += usize::from(dc.moves_to.is_some());
        renames += usize::from(dc.renames);
    }
    let collision: Vec<Finding> = plan
        .findings
        .iter()
        .filter(|f| {
            f.message.contains("is already taken")
                || f.message.contains("also wanted by")
                || f.message.contains("no free")
                || f.message.contains("that DN is taken")
        })
        .cloned()
        .collect();
    let mut summary = plan.summary();
    // Held and awaiting changes are counted with what they would do.
    for c in plan.held.iter().chain(&plan.awaiting_approval) {
        match c.kind {
            ChangeKind::Create | ChangeKind::CreateDisabled => summary.create += 1,
            ChangeKind::Update => summary.update += 1,
            ChangeKind::Enable | ChangeKind::FinishCreate => summary.enable += 1,
            ChangeKind::Disable => summary.disable += 1,
            ChangeKind::Delete => summary.delete += 1,
        }
    }
    let mut examples: Vec<Change> = plan
        .held
        .iter()
        .chain(&plan.awaiting_approval)
        .chain(&plan.changes)
        .take(req.examples)
        .cloned()
        .collect();
    examples.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(VersusDirectory {
        target: plan.target.clone(),
        summary,
        attributes,
        moves,
        renames,
        held: plan.held.len(),
        // The reasons end with how to release a real run's held changes; replay made none.
        held_reasons: plan
            .held_reasons
            .iter()
            .map(|r| match r.find("; review them, then run") {
                Some(i) => format!("{}; a plan would hold them", &r[..i]),
                None => r.clone(),
            })
            .collect(),
        awaiting_approval: plan.awaiting_approval.len(),
        collisions: collision
            .iter()
            .map(|f| f.subject.as_str())
            .collect::<BTreeSet<_>>()
            .len(),
        errors: plan
            .findings
            .iter()
            .filter(|f| f.severity == "error")
            .count(),
        managed_not_in_snapshot: stored.keys().filter(|k| !keys.contains(*k)).count(),
        collision_examples: collision.into_iter().take(req.examples).collect(),
        examples,
    })
}
