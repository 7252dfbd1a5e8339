//! Executes a plan. Changes run concurrently (bounded), spread over the bound connections; one
//! failed change never stops the others. Every change yields an [`Outcome`] with the server's
//! result code and text, which the caller records in the audit.
//!
//! A connection that is lost (the server went away, or did not answer within the timeout) takes
//! no more changes: the rest go over the other connections, and when none is left they are not
//! sent at all but reported as not attempted, with how many, instead of each failing in turn.
//!
//! An apply told to stop ([`apply_until`]: the run was cancelled) sends no more changes: those
//! in flight complete, the rest are reported as not attempted in the same way.

use crate::Directory;
use crate::dialect::{AttrMod, Dialect, uac};
use crate::password;
use crate::result_code;
use futures::StreamExt;
use hrsync_model::{Change, ChangeKind, dn};
use ldap3::{Ldap, LdapError, Mod, Scope, SearchEntry};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod finish;

/// The result of one change.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Index of the change in the plan.
    pub index: usize,
    pub ok: bool,
    /// LDAP result code (0 = success) when the server answered.
    pub rc: Option<u32>,
    /// What went wrong, for people: the result code's name and number, the DN, and the server's
    /// diagnostic text (`noSuchObject (32): uid=a,ou=gone,dc=example,dc=com`), or the client
    /// error. Empty on success.
    pub message: String,
    /// The entry's DN after the change.
    pub dn: String,
    /// Whether hrsync tried this change. `false` (and `ok` false) for a change not attempted
    /// because the connection to the directory was lost before its turn (its message starts
    /// with [`NOT_ATTEMPTED`] and says how many; [`CANCELLED`] when the run was cancelled), or
    /// because nothing was left of it once the change of an entry it names had failed. Nothing
    /// of it was sent to the directory.
    pub attempted: bool,
    /// The stable id of an entry this change created, when the server said it in the add's
    /// answer (RFC 4527 post-read, OpenLDAP): the link is complete at once, so the next plan
    /// has nothing to record. None otherwise (the next plan reads it).
    pub uuid: Option<String>,
}

/// What a change in flight when the connection was lost says (after its DN).
const LOST_DURING: &str = "the connection to the directory was lost during this change, which may or may not have been applied; the next run compares again";

/// How the message of a change not attempted after the connection was lost begins.
pub const NOT_ATTEMPTED: &str = "not attempted: the connection to the directory was lost";

/// How the message of a change not attempted because the apply was told to stop begins.
pub const CANCELLED: &str = "not attempted: the run was cancelled";

/// Applies `changes`, calling `on_outcome` as each finishes (in completion order). Changes not
/// attempted because the connection was lost are reported last, once their number is known.
pub async fn apply(
    dir: &Directory,
    changes: &[Change],
    on_outcome: impl FnMut(&Outcome),
) -> Vec<Outcome> {
    apply_until(dir, changes, || false, on_outcome).await
}

/// [`apply`], asking `stop` before each change is sent: once it says true, no more changes
/// are sent (those in flight complete) and the rest are reported last as not attempted, their
/// message starting with [`CANCELLED`] and saying how many.
pub async fn apply_until(
    dir: &Directory,
    changes: &[Change],
    stop: impl Fn() -> bool + Sync,
    mut on_outcome: impl FnMut(&Outcome),
) -> Vec<Outcome> {
    let conns = Conns::new(dir, dir.revive().await);
    if !conns.all_lost() {
        ensure_parents(dir, changes).await;
    }
    let in_flight = dir.cfg.in_flight.max(1);
    let (waves, deps) = order(changes);
    let mut failed: HashSet<usize> = HashSet::new();
    let mut out = Vec::with_capacity(changes.len());
    let mut skipped: Vec<Outcome> = Vec::new();
    let stop = &stop;
    for wave in waves {
        if stop() {
            skipped.extend(wave.into_iter().map(|i| cancelled(i, &changes[i])));
            continue;
        }
        if conns.all_lost() {
            skipped.extend(wave.into_iter().map(|i| not_attempted(i, &changes[i])));
            continue;
        }
        // A reference to an entry whose own change failed is left out (the entry may not
        // exist); the next run sets it.
        let items: Vec<(usize, Cow<'_, Change>, Vec<String>)> = wave
            .into_iter()
            .map(|i| {
                let gone: HashSet<String> = deps[i]
                    .iter()
                    .filter(|d| failed.contains(d))
                    .filter_map(|d| produced(&changes[*d]))
                    .collect();
                if gone.is_empty() {
                    return (i, Cow::Borrowed(&changes[i]), Vec::new());
                }
                let mut c = changes[i].clone();
                let mut left_out = Vec::new();
                c.attrs.retain(|a| {
                    let keep = !a.after.iter().any(|v| gone.contains(&norm(v)));
                    if !keep {
                        left_out.push(a.attr.to_string());
                    }
                    keep
                });
                (i, Cow::Owned(c), left_out)
            })
            .collect();
        let conns = &conns;
        let mut stream = futures::stream::iter(items)
            .map(|(i, c, left_out)| async move {
                let nothing_left =
                    c.kind == ChangeKind::Update && c.attrs.is_empty() && c.new_dn.is_none();
                let mut o = if nothing_left {
                    Outcome {
                        index: i,
                        ok: false,
                        rc: None,
                        message: String::new(),
                        dn: c.dn.clone(),
                        attempted: false,
                        uuid: None,
                    }
                } else if stop() {
                    return cancelled(i, &c);
                } else {
                    // The connection is taken when the change's turn comes, not before: one
                    // lost meanwhile is not used.
                    let Some((j, ldap)) = conns.pick(i).await else {
                        return not_attempted(i, &c);
                    };
                    let (o, lost) = apply_one(dir, ldap, i, &c).await;
                    if lost {
                        conns.lose(j);
                    }
                    o
                };
                if !left_out.is_empty() {
                    let note = format!(
                        "{} not set: the change of the entry it names failed",
                        left_out.join(", ")
                    );
                    o.message = if o.message.is_empty() {
                        note
                    } else {
                        format!("{}; {note}", o.message)
                    };
                }
                o
            })
            .buffer_unordered(in_flight);
        while let Some(o) = stream.next().await {
            if !o.ok {
                failed.insert(o.index);
            }
            if !o.attempted && (o.message == NOT_ATTEMPTED || o.message == CANCELLED) {
                skipped.push(o);
            } else {
                on_outcome(&o);
                out.push(o);
            }
        }
    }
    let (stopped, lost): (Vec<Outcome>, Vec<Outcome>) =
        skipped.into_iter().partition(|o| o.message == CANCELLED);
    if !lost.is_empty() {
        let n = lost.len();
        tracing::warn!(
            url = %dir.cfg.url,
            "the connection to the directory was lost: {n} change(s) not attempted; the next run plans them again"
        );
        for mut o in lost {
            o.message = format!("{NOT_ATTEMPTED} ({n} changes not attempted)");
            on_outcome(&o);
            out.push(o);
        }
    }
    if !stopped.is_empty() {
        let n = stopped.len();
        tracing::warn!(
            url = %dir.cfg.url,
            "the run was cancelled: {n} change(s) not attempted; the next run plans them again"
        );
        for mut o in stopped {
            o.message = format!("{CANCELLED} ({n} changes not attempted)");
            on_outcome(&o);
            out.push(o);
        }
    }
    out.sort_by_key(|o| o.index);
    out
}

fn not_attempted(index: usize, c: &Change) -> Outcome {
    skipped(index, c, NOT_ATTEMPTED)
}

fn cancelled(index: usize, c: &Change) -> Outcome {
    skipped(index, c, CANCELLED)
}

fn skipped(index: usize, c: &Change, why: &str) -> Outcome {
    Outcome {
        index,
        ok: false,
        rc: None,
        message: why.to_string(),
        dn: c.dn.clone(),
        attempted: false,
        uuid: None,
    }
}

/// The connections of one apply, and which of them were lost. After a loss, the connections
/// left are checked (one round trip each, one task at a time) before any takes another change:
/// a server that went away takes them all, and nothing more is sent to it.
struct Conns<'a> {
    dir: &'a Directory,
    lost: Vec<AtomicBool>,
    /// A connection was lost since the others were last checked.
    suspect: AtomicBool,
    check: tokio::sync::Mutex<()>,
}

impl<'a> Conns<'a> {
    fn new(dir: &'a Directory, usable: Vec<bool>) -> Self {
        Conns {
            dir,
            lost: usable.into_iter().map(|u| AtomicBool::new(!u)).collect(),
            suspect: AtomicBool::new(false),
            check: tokio::sync::Mutex::new(()),
        }
    }

    /// Change `i`'s connection (spread by index), or the next one not lost; `None` when all are.
    async fn pick(&self, i: usize) -> Option<(usize, Ldap)> {
        if self.suspect.load(Ordering::Acquire) {
            let _one_at_a_time = self.check.lock().await;
            if self.suspect.swap(false, Ordering::AcqRel) {
                self.check_the_rest().await;
            }
        }
        let n = self.lost.len();
        (0..n).map(|k| (i + k) % n).find_map(|j| {
            if self.lost[j].load(Ordering::Acquire) {
                return None;
            }
            let mut l = self.dir.conn(j);
            if l.is_closed() {
                self.lose(j);
                return None;
            }
            Some((j, l))
        })
    }

    /// One round trip on each connection not lost yet.
    async fn check_the_rest(&self) {
        for (j, lost) in self.lost.iter().enumerate() {
            if !lost.load(Ordering::Acquire)
                && !crate::connect::alive(self.dir.conn(j), self.dir.cfg.timeout).await
            {
                self.lose(j);
            }
        }
    }

    fn lose(&self, j: usize) {
        if !self.lost[j].swap(true, Ordering::AcqRel) {
            self.suspect.store(true, Ordering::Release);
            tracing::warn!(url = %self.dir.cfg.url, connection = j, "lost a connection to the directory; it takes no more changes");
        }
    }

    fn all_lost(&self) -> bool {
        self.lost.iter().all(|l| l.load(Ordering::Acquire))
    }
}

fn norm(d: &str) -> String {
    dn::Dn::parse(d)
        .map(|x| x.normalized())
        .unwrap_or_else(|_| d.to_lowercase())
}

/// The DN a change gives its entry (normalised): a create's DN, or the rename/move target.
fn produced(c: &Change) -> Option<String> {
    if c.kind.creates() {
        Some(norm(&c.dn))
    } else {
        c.new_dn.as_deref().map(norm)
    }
}

/// The order changes run in: a change whose new values name a DN that another change of the
/// plan creates or renames/moves to (a manager hired together with their team) waits for that
/// change; Active Directory refuses a `manager` naming an entry that does not exist yet.
/// Returns the waves (indices; one wave when nothing depends on anything) and each change's
/// dependencies.
fn order(changes: &[Change]) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let made: std::collections::HashMap<String, usize> = changes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| produced(c).map(|d| (d, i)))
        .collect();
    let deps: Vec<Vec<usize>> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if made.is_empty() {
                return Vec::new();
            }
            let mut d: Vec<usize> = c
                .attrs
                .iter()
                .filter(|a| !a.attr.is(MEMBER_OF))
                .flat_map(|a| a.after.iter())
                .filter(|v| v.contains('='))
                .filter_map(|v| made.get(&norm(v)).copied())
                .filter(|&j| j != i)
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    // Depth = 1 + the deepest dependency; a cycle (the planner never plans one) is cut.
    let mut depth: Vec<Option<usize>> = vec![None; changes.len()];
    for start in 0..changes.len() {
        let mut stack = vec![(start, false)];
        let mut on_path: HashSet<usize> = HashSet::new();
        while let Some((i, expanded)) = stack.pop() {
            if depth[i].is_some() {
                continue;
            }
            if expanded {
                let d = deps[i]
                    .iter()
                    .filter_map(|&j| depth[j])
                    .map(|x| x + 1)
                    .max()
                    .unwrap_or(0);
                depth[i] = Some(d);
                on_path.remove(&i);
                continue;
            }
            on_path.insert(i);
            stack.push((i, true));
            for &j in &deps[i] {
                if depth[j].is_none() && !on_path.contains(&j) {
                    stack.push((j, false));
                }
            }
        }
    }
    let n = depth.iter().flatten().max().map_or(0, |m| m + 1);
    let mut waves = vec![Vec::new(); n];
    for (i, d) in depth.into_iter().enumerate() {
        waves[d.unwrap_or(0)].push(i);
    }
    (waves, deps)
}

/// A connection whose every operation is bounded by the configured timeout (ldap3 applies a
/// timeout to the next operation only).
struct Conn {
    ldap: Ldap,
    timeout: Duration,
}

impl Conn {
    fn op(&mut self) -> &mut Ldap {
        self.ldap.with_timeout(self.timeout)
    }
}

/// Creates the OUs below `users_ou` that creates and moves need (an OU rule's `OU=Sales`),
/// top-down. Parents outside `users_ou` are never created. A failure here shows up as the
/// failed changes that needed the OU.
async fn ensure_parents(dir: &Directory, changes: &[Change]) {
    let users = dir.cfg.users_ou.to_lowercase();
    let mut needed: Vec<String> = changes
        .iter()
        .filter(|c| crate::dialect::change_control_character(c).is_none())
        .filter_map(|c| match (c.kind, &c.new_dn) {
            (ChangeKind::Create | ChangeKind::CreateDisabled, _) => Some(c.dn.as_str()),
            (_, Some(n)) => Some(n.as_str()),
            _ => None,
        })
        .filter_map(|d| dn::Dn::parse(d).ok().map(|p| p.parent().to_string()))
        .filter(|p| {
            !dn::same(p, &dir.cfg.users_ou) && p.to_lowercase().ends_with(&format!(",{users}"))
        })
        .collect();
    needed.sort_by_key(|p| p.len());
    needed.dedup_by(|a, b| dn::same(a, b));
    let mut ldap = Conn {
        ldap: dir.conn(0),
        timeout: dir.cfg.timeout,
    };
    let mut known: Vec<String> = Vec::new();
    for p in needed {
        // Every ancestor below users_ou, top-down.
        let mut chain = Vec::new();
        let mut cur = dn::Dn::parse(&p).ok();
        while let Some(d) = cur {
            let s = d.to_string();
            if dn::same(&s, &dir.cfg.users_ou) || !s.to_lowercase().ends_with(&format!(",{users}"))
            {
                break;
            }
            chain.push((s, d.leaf().map(|l| l.value.clone()).unwrap_or_default()));
            cur = Some(d.parent());
        }
        for (ou, name) in chain.into_iter().rev() {
            if known.iter().any(|k| dn::same(k, &ou)) {
                continue;
            }
            let exists = matches!(
                ldap.op().search(&ou, Scope::Base, "(objectClass=*)", vec!["1.1"]).await,
                Ok(ldap3::SearchResult(_, ref r)) if r.rc == 0
            );
            if !exists {
                let r = ldap
                    .op()
                    .add(
                        &ou,
                        vec![
                            (
                                b"objectClass".to_vec(),
                                HashSet::from([b"organizationalUnit".to_vec()]),
                            ),
                            (b"ou".to_vec(), HashSet::from([name.into_bytes()])),
                        ],
                    )
                    .await;
                match r {
                    Ok(r) if r.rc == 0 => tracing::info!(dn = %ou, "created OU"),
                    Ok(r) => tracing::warn!(
                        "cannot create OU: {}",
                        result_code::failure(r.rc, &ou, &r.text, &r.matched)
                    ),
                    Err(e) => tracing::warn!("cannot create OU: {ou}: {e}"),
                }
            }
            known.push(ou);
        }
    }
}

/// Attribute under which group memberships are planned (see `hrsync-plan`).
const MEMBER_OF: &str = "memberOf";

/// Adds/removes the user at `user_dn` to/from groups as the change's `memberOf` says: on the
/// groups' `member` attribute. Already a member / already gone counts as done.
async fn groups(ldap: &mut Conn, user_dn: &str, c: &Change) -> Result<(), Failed> {
    let Some(a) = c.attrs.iter().find(|a| a.attr.is(MEMBER_OF)) else {
        return Ok(());
    };
    let add = a
        .after
        .iter()
        .filter(|g| !a.before.iter().any(|b| dn::same(b, g)));
    let remove = a
        .before
        .iter()
        .filter(|g| !a.after.iter().any(|b| dn::same(b, g)));
    let member = || HashSet::from([user_dn.as_bytes().to_vec()]);
    for g in add {
        match ldap
            .op()
            .modify(g, vec![Mod::Add(b"member".to_vec(), member())])
            .await
        {
            Ok(r) if r.rc == 0 || r.rc == 20 || r.rc == 68 => {}
            other => return Err(failed(other, g).context("adding to group")),
        }
    }
    for g in remove {
        match ldap
            .op()
            .modify(g, vec![Mod::Delete(b"member".to_vec(), member())])
            .await
        {
            Ok(r) if r.rc == 0 || r.rc == 16 => {}
            other => return Err(failed(other, g).context("removing from group")),
        }
    }
    Ok(())
}

struct Failed {
    rc: Option<u32>,
    message: String,
    /// The connection is gone or unresponsive: it takes no more changes.
    lost: bool,
}

impl Failed {
    /// The server refused an operation on `dn`.
    fn ldap(res: &ldap3::LdapResult, dn: &str) -> Failed {
        Failed {
            rc: Some(res.rc),
            message: result_code::failure(res.rc, dn, &res.text, &res.matched),
            lost: false,
        }
    }

    /// The operation on `dn` got no answer from the server.
    fn client(e: &LdapError, dn: &str) -> Failed {
        let (message, lost) = match e {
            // The connection's task is gone (the socket was closed or failed): ldap3 says
            // "channel closed", which tells nobody anything.
            LdapError::OpSend { .. }
            | LdapError::ResultRecv { .. }
            | LdapError::IdScrubSend { .. }
            | LdapError::MiscSend { .. }
            | LdapError::EndOfStream => (format!("{dn}: {LOST_DURING}"), true),
            LdapError::Io { source } => (format!("{dn}: {LOST_DURING} ({source})"), true),
            LdapError::Timeout { .. } => (
                format!(
                    "{dn}: the directory did not answer within the timeout (timeout_secs); the change may or may not have been applied, and this connection takes no more changes"
                ),
                true,
            ),
            e => (format!("{dn}: {e}"), false),
        };
        Failed {
            rc: None,
            message,
            lost,
        }
    }

    /// A failure of hrsync's own (no operation was sent for it).
    fn local(message: String) -> Failed {
        Failed {
            rc: None,
            message,
            lost: false,
        }
    }

    /// `what: message`, e.g. `adding to group: noSuchObject (32): cn=x,…`.
    fn context(self, what: &str) -> Failed {
        Failed {
            message: format!("{what}: {}", self.message),
            ..self
        }
    }
}

/// The failure of an operation on `dn` (an answer with rc 0 counts as one too: the caller
/// wanted another code).
fn failed(r: ldap3::result::Result<ldap3::LdapResult>, dn: &str) -> Failed {
    match r {
        Ok(res) => Failed::ldap(&res, dn),
        Err(e) => Failed::client(&e, dn),
    }
}

/// Applies one change; `true` with the outcome when the connection was lost on the way.
async fn apply_one(dir: &Directory, ldap: Ldap, index: usize, c: &Change) -> (Outcome, bool) {
    let mut ldap = Conn {
        ldap,
        timeout: dir.cfg.timeout,
    };
    // The last guard: nothing with a control character is ever sent, whatever planned it.
    let refused = crate::dialect::change_control_character(c).map(|why| {
        Failed::local(format!(
            "{}: {why}; not sent (nothing with a control character is written to the directory)",
            hrsync_model::record::escaped(&c.dn)
        ))
    });
    let res = match (refused, c.kind) {
        (Some(f), _) => Err(f),
        (None, ChangeKind::Create | ChangeKind::CreateDisabled) => create(dir, &mut ldap, c)
            .await
            .map(|made| (c.dn.clone(), made)),
        (None, _) => other(dir, &mut ldap, c)
            .await
            .map(|dn| (dn, Made::default())),
    };
    // Group memberships follow the entry's final DN.
    let res = match res {
        Ok((dn, made)) => groups(&mut ldap, &dn, c).await.map(|_| (dn, made)),
        Err(f) => Err(f),
    };
    match res {
        Ok((dn, made)) => (
            Outcome {
                index,
                ok: true,
                rc: Some(0),
                message: made.note.unwrap_or_default(),
                dn,
                attempted: true,
                uuid: made.uuid,
            },
            false,
        ),
        Err(f) => {
            tracing::warn!(key = %c.key, dn = %c.dn, kind = c.kind.as_str(), rc = ?f.rc, "change failed: {}", f.message);
            (
                Outcome {
                    index,
                    ok: false,
                    rc: f.rc,
                    message: f.message,
                    dn: c.dn.clone(),
                    attempted: true,
                    uuid: None,
                },
                f.lost,
            )
        }
    }
}

async fn other(dir: &Directory, ldap: &mut Conn, c: &Change) -> Result<String, Failed> {
    match c.kind {
        ChangeKind::Create | ChangeKind::CreateDisabled => Ok(c.dn.clone()),
        ChangeKind::Update => update(ldap, c, vec![]).await,
        // A new password delivered first, then set and the account enabled (AD); elsewhere
        // accounts get no initial password: a plain enable.
        ChangeKind::FinishCreate if dir.cfg.dialect.flags_based() => {
            let dn = update(ldap, c, vec![]).await?;
            finish::finish(dir, ldap, c, &dn).await?;
            Ok(dn)
        }
        ChangeKind::FinishCreate => update(ldap, c, dir.cfg.dialect.enable_mods()).await,
        ChangeKind::Enable => match update(ldap, c, dir.cfg.dialect.enable_mods()).await {
            Ok(dn) if dir.cfg.dialect.flags_based() => {
                set_disabled(ldap, &dn, false, false, vec![])
                    .await
                    .map(|_| dn)
            }
            other => other,
        },
        // Disabled first, then moved to the disabled OU when the plan says so.
        ChangeKind::Disable if dir.cfg.dialect.flags_based() => {
            set_disabled(ldap, &c.dn, true, false, vec![]).await?;
            update(ldap, c, vec![]).await
        }
        ChangeKind::Disable => update(ldap, c, dir.cfg.dialect.disable_mods()).await,
        ChangeKind::Delete => check(ldap.op().delete(&c.dn).await, &c.dn).map(|_| c.dn.clone()),
    }
}

/// Success, or the failure of the operation on `dn`.
fn check(r: ldap3::result::Result<ldap3::LdapResult>, dn: &str) -> Result<(), Failed> {
    match r {
        Ok(res) if res.rc == 0 => Ok(()),
        other => Err(failed(other, dn)),
    }
}

/// What a create made: a note for the audit (the entry was already there with the person's
/// key, added by an interrupted run, see `finish::found`) and the new entry's stable id when
/// the server said it.
#[derive(Default)]
struct Made {
    note: Option<String>,
    uuid: Option<String>,
}

impl From<Option<String>> for Made {
    fn from(note: Option<String>) -> Made {
        Made { note, uuid: None }
    }
}

/// Adds the entry (on AD: disabled with its password, the password delivered, then enabled).
async fn create(dir: &Directory, ldap: &mut Conn, c: &Change) -> Result<Made, Failed> {
    let mut attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = vec![(
        b"objectClass".to_vec(),
        dir.cfg
            .object_classes
            .iter()
            .map(|o| o.as_bytes().to_vec())
            .collect(),
    )];
    for a in &c.attrs {
        if a.after.is_empty() || a.attr.is(MEMBER_OF) {
            continue;
        }
        attrs.push((
            a.attr.as_str().as_bytes().to_vec(),
            a.after.iter().map(|v| v.as_bytes().to_vec()).collect(),
        ));
    }
    let stay_disabled = c.kind == ChangeKind::CreateDisabled;
    if dir.cfg.dialect != Dialect::ActiveDirectory {
        if stay_disabled {
            for (a, v) in dir.cfg.dialect.disable_mods() {
                attrs.push((
                    a.into_bytes(),
                    v.into_iter().map(String::into_bytes).collect(),
                ));
            }
        }
        return match add_reading_uuid(dir, ldap, c, attrs).await {
            Err(refused) if refused.rc == Some(68) => {
                finish::found(dir, ldap, c, refused).await.map(Made::from)
            }
            Ok(uuid) => Ok(Made { note: None, uuid }),
            Err(f) => Err(f),
        };
    }
    // AD: created disabled together with its password (one add, over TLS), the password
    // delivered, and only then enabled (read-modify-write) with pwdLastSet in the same modify.
    // Three operations; Samba spends most of the time hashing the password either way.
    let Some(pw) = &dir.cfg.passwords else {
        return Err(Failed::local(
            "not created: no [directory.passwords] is configured, so the account would get no initial password".into(),
        ));
    };
    let value = |name: &str| {
        c.attrs
            .iter()
            .find(|a| a.attr.is(name))
            .and_then(|a| a.after.first().cloned())
            .unwrap_or_default()
    };
    let account = value("sAMAccountName");
    let display = [value("displayName"), value("cn")]
        .into_iter()
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    let secret = password::generate(&pw.policy, &account, &display)
        .map_err(|e| Failed::local(format!("not created: {e}")))?;
    let disabled = uac::NORMAL_ACCOUNT | uac::ACCOUNTDISABLE;
    attrs.push((
        b"userAccountControl".to_vec(),
        HashSet::from([disabled.to_string().into_bytes()]),
    ));
    attrs.push((
        b"unicodePwd".to_vec(),
        HashSet::from([password::unicode_pwd(&secret)]),
    ));
    match add(ldap, c, attrs).await {
        Err(refused) if refused.rc == Some(68) => {
            return finish::found(dir, ldap, c, refused).await.map(Made::from);
        }
        other => other?,
    }
    pw.file
        .deliver(&password::Delivery {
            mapping: &pw.mapping,
            key: &c.key,
            dn: &c.dn,
            account: &account,
            password: &secret,
        })
        .map_err(|e| {
            Failed::local(format!(
                "created but left disabled: the initial password could not be delivered: {e}"
            ))
        })?;
    let extra = if pw.must_change {
        vec![("pwdLastSet".to_string(), vec!["0".to_string()])]
    } else {
        Vec::new()
    };
    if stay_disabled {
        // A pre-hire: password ready, account enabled on the start date by a later run.
        return if extra.is_empty() {
            Ok(Made::default())
        } else {
            modify(ldap, &c.dn, extra).await.map(|_| Made::default())
        };
    }
    set_disabled(ldap, &c.dn, false, true, extra)
        .await
        .map(|_| Made::default())
}

/// Adds the entry asking, in the same operation, for its stable id (RFC 4527 post-read; not
/// critical: a server without the control just adds). The id is None when the server did not
/// answer the control.
async fn add_reading_uuid(
    dir: &Directory,
    ldap: &mut Conn,
    c: &Change,
    attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)>,
) -> Result<Option<String>, Failed> {
    let uuid_attr = dir.cfg.dialect.uuid_attribute();
    let r = ldap
        .op()
        .with_controls(ldap3::controls::PostRead::new(vec![uuid_attr]))
        .add(&c.dn, attrs)
        .await;
    let res = match r {
        Ok(res) if res.rc == 0 => res,
        other => return Err(failed(other, &c.dn)),
    };
    // Parsed here, not with ldap3's parser, which panics on a malformed value.
    Ok(res.ctrls.into_iter().find_map(|ctrl| {
        let ldap3::controls::Control(Some(ldap3::controls::ControlType::PostReadResp), raw) = ctrl
        else {
            return None;
        };
        let (_, tag) = ldap3::asn1::parse_tag(raw.val.as_deref()?).ok()?;
        let (_, attrs) = crate::snapshot::entry_parts(tag)?;
        attrs
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(uuid_attr))
            .and_then(|(_, v)| v.into_iter().next())
            .and_then(|v| dir.cfg.dialect.decode_uuid(&v))
    }))
}

async fn add(
    ldap: &mut Conn,
    c: &Change,
    attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)>,
) -> Result<(), Failed> {
    check(ldap.op().add(&c.dn, attrs).await, &c.dn)
}

/// Reads `userAccountControl`, flips only the disable bit (and, for a new account, the
/// "no password required" bit) and writes it back if it changed.
async fn set_disabled(
    ldap: &mut Conn,
    dn: &str,
    disable: bool,
    new_account: bool,
    extra: Vec<AttrMod>,
) -> Result<(), Failed> {
    let ldap3::SearchResult(rs, res) = ldap
        .op()
        .search(
            dn,
            Scope::Base,
            "(objectClass=*)",
            vec!["userAccountControl"],
        )
        .await
        .map_err(|e| Failed::client(&e, dn).context("reading userAccountControl"))?;
    if res.rc != 0 {
        return Err(Failed::ldap(&res, dn).context("reading userAccountControl"));
    }
    let current = rs
        .into_iter()
        .next()
        .map(SearchEntry::construct)
        .and_then(|e| {
            e.attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("userAccountControl"))
                .and_then(|(_, v)| v.first())
                .and_then(|v| v.trim().parse::<u32>().ok())
        })
        .ok_or_else(|| {
            Failed::local(format!(
                "{dn}: cannot read userAccountControl (not in the entry, or not readable by the bind DN)"
            ))
        })?;
    let next = Dialect::uac_after(current, disable, new_account);
    let mut mods = extra;
    if next != current {
        mods.push(("userAccountControl".to_string(), vec![next.to_string()]));
    }
    if mods.is_empty() {
        return Ok(());
    }
    modify(ldap, dn, mods).await
}

async fn update(ldap: &mut Conn, c: &Change, extra: Vec<AttrMod>) -> Result<String, Failed> {
    let mut dn_now = c.dn.clone();
    if let Some(new_dn) = &c.new_dn {
        let parsed = dn::Dn::parse(new_dn).map_err(|e| Failed::local(e.to_string()))?;
        let leaf = parsed
            .leaf()
            .ok_or_else(|| Failed::local(format!("new DN {new_dn} has no RDN")))?;
        let rdn = format!("{}={}", leaf.attr, dn::escape_value(&leaf.value));
        // A move (the OU rule's parent changed) is the same modrdn with a new superior.
        let moves_to = c.dn_change().moves_to;
        check(
            ldap.op()
                .modifydn(&c.dn, &rdn, true, moves_to.as_deref())
                .await,
            &c.dn,
        )
        .map_err(|f| f.context(&format!("renaming to {new_dn}")))?;
        dn_now = new_dn.clone();
    }
    let mut mods: Vec<AttrMod> = extra;
    mods.extend(
        c.attrs
            .iter()
            .filter(|a| !a.attr.is(MEMBER_OF))
            .map(|a| (a.attr.to_string(), a.after.clone())),
    );
    if !mods.is_empty() {
        modify(ldap, &dn_now, mods).await?;
    }
    Ok(dn_now)
}

async fn modify(ldap: &mut Conn, dn: &str, mods: Vec<AttrMod>) -> Result<(), Failed> {
    let mods: Vec<Mod<Vec<u8>>> = mods
        .into_iter()
        .map(|(a, vals)| {
            let set: HashSet<Vec<u8>> = vals.into_iter().map(String::into_bytes).collect();
            if set.is_empty() {
                Mod::Delete(a.into_bytes(), set)
            } else {
                Mod::Replace(a.into_bytes(), set)
            }
        })
        .collect();
    check(ldap.op().modify(dn, mods).await, dn)
}

/// Gives an existing Active Directory account a new generated password: delivered to the
/// password file first (a password set but never delivered would lock the person out), then
/// set; `pwdLastSet = 0` when the policy says the user must change it.
pub async fn reset_password(
    dir: &Directory,
    key: &str,
    dn: &str,
    account: &str,
) -> Result<String, String> {
    if dir.cfg.dialect != Dialect::ActiveDirectory {
        return Err("reset_password is supported on Active Directory only".into());
    }
    let Some(pw) = &dir.cfg.passwords else {
        return Err("no [directory.passwords] is configured to deliver the new password".into());
    };
    let secret = password::generate(&pw.policy, account, account).map_err(|e| e.to_string())?;
    pw.file
        .deliver(&password::Delivery {
            mapping: &pw.mapping,
            key,
            dn,
            account,
            password: &secret,
        })
        .map_err(|e| format!("not reset: the new password could not be delivered: {e}"))?;
    let mut ldap = Conn {
        ldap: dir.conn(0),
        timeout: dir.cfg.timeout,
    };
    let mut mods = vec![Mod::Replace(
        b"unicodePwd".to_vec(),
        HashSet::from([password::unicode_pwd(&secret)]),
    )];
    if pw.must_change {
        mods.push(Mod::Replace(
            b"pwdLastSet".to_vec(),
            HashSet::from([b"0".to_vec()]),
        ));
    }
    match ldap.op().modify(dn, mods).await {
        Ok(r) if r.rc == 0 => Ok(format!(
            "new password for {account} delivered to {}",
            pw.file.path().display()
        )),
        Ok(r) => Err(format!(
            "password delivered but not set: {}",
            result_code::failure(r.rc, dn, &r.text, &r.matched)
        )),
        Err(e) => Err(format!("password delivered but not set: {dn}: {e}")),
    }
}

#[cfg(test)]
mod order_tests {
    use super::order;
    use hrsync_model::{AttrChange, Change, ChangeKind};

    fn change(kind: ChangeKind, dn: &str, new_dn: Option<&str>, manager: Option<&str>) -> Change {
        Change {
            kind,
            key: dn.to_string(),
            dn: dn.to_string(),
            new_dn: new_dn.map(str::to_string),
            uuid: None,
            attrs: manager
                .map(|m| AttrChange {
                    attr: "manager".into(),
                    before: vec![],
                    after: vec![m.to_string()],
                })
                .into_iter()
                .collect(),
            reason: String::new(),
        }
    }

    #[test]
    fn reports_wait_for_their_managers_entries() {
        let changes = vec![
            // 0: a report created before (in plan order) the manager it names
            change(
                ChangeKind::Create,
                "uid=dev,ou=p,dc=x",
                None,
                Some("UID=Lead, ou=p,dc=x"),
            ),
            // 1: the manager, created, reporting to someone who is moved in this plan
            change(
                ChangeKind::Create,
                "uid=lead,ou=p,dc=x",
                None,
                Some("uid=ceo,ou=q,dc=x"),
            ),
            // 2: the CEO's move
            change(
                ChangeKind::Update,
                "uid=ceo,ou=p,dc=x",
                Some("uid=ceo,ou=q,dc=x"),
                None,
            ),
            // 3: someone naming an entry nobody creates
            change(
                ChangeKind::Update,
                "uid=x,ou=p,dc=x",
                None,
                Some("uid=old,ou=p,dc=x"),
            ),
        ];
        let (waves, deps) = order(&changes);
        assert_eq!(waves, vec![vec![2, 3], vec![1], vec![0]]);
        assert_eq!(deps[0], vec![1]);
        assert!(deps[3].is_empty());
        // Nothing depends on anything: one wave, plan order.
        let (waves, _) = order(&changes[2..]);
        assert_eq!(waves, vec![vec![0, 1]]);
    }
}
