//! The `hrsync` command line: parses arguments, calls `hrsync-engine` (runs, plans, explain,
//! tests, replay, checks) and `hrsync-server` (`serve`, orchestration work) with the
//! configuration of `hrsync-config`, and prints. Subcommands past a few lines are in [`cli`].

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::{Parser, Subcommand};
use hrsync_config::Config;
use hrsync_directory::Outcome;
use hrsync_engine::{Mode, RunReport, Ui};
use hrsync_model::Plan;
use hrsync_state::Store;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

// A sync allocates millions of small strings (HR values, LDAP attributes); mimalloc handles that
// markedly better than glibc malloc (measured with perf on the 20k-employee no-op run).
mod cli;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` in the option enum of mimalloc v3 (the version the
/// `mimalloc` crate builds by default; the crate's own `extended` constants still number v2's
/// options, so the index is ours, checked by [`tune_allocator`] and by a test).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
/// mimalloc v3's default purge delay, in milliseconds: what the option reads before it is set.
const MI_DEFAULT_PURGE_DELAY: std::ffi::c_long = 1000;
/// The purge delay hrsync runs with: freed memory goes back to the OS after 10 s unused.
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

unsafe extern "C" {
    fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// A sync frees and re-allocates hundreds of megabytes within seconds (HR pages, LDAP
/// entries). With mimalloc's default 1 s purge delay, memory freed by one stage is returned to
/// the OS and faulted back in (zeroed, as 2 MB huge pages) by the next: on the 100k no-op that
/// was ~13% of hrsync's CPU time (perf: `clear_page_erms` under `mi_page_fresh_alloc`), and
/// `MIMALLOC_PURGE_DELAY=10000` measured 0.9 s less CPU. A 10 s delay keeps memory within a run
/// and still returns it to the OS when the daemon idles. `MIMALLOC_PURGE_DELAY` in the
/// environment wins; the option is left alone if its index does not read as v3's default.
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: plain FFI calls into the linked mimalloc; the option index is checked first.
    unsafe {
        if mi_option_get(MI_OPTION_PURGE_DELAY) == MI_DEFAULT_PURGE_DELAY {
            mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
        }
    }
}

#[derive(Parser)]
#[command(
    name = "hrsync",
    version,
    about = "HR-driven identity lifecycle: HR system → directory, planned before applied"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
pub(crate) struct Common {
    /// Configuration file (TOML).
    #[arg(short, long, env = "HRSYNC_CONFIG")]
    pub(crate) config: PathBuf,
}

#[derive(clap::Args)]
struct Show {
    /// Only this mapping (default: every enabled mapping, in file order).
    #[arg(short, long)]
    mapping: Option<String>,
    /// Print the plan as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Print the plan as LDIF change records instead of text (review, or another tool).
    #[arg(long, conflicts_with = "json")]
    ldif: bool,
    /// Only the summary, not every change.
    #[arg(long)]
    summary: bool,
    /// Show at most this many changes and findings in text output.
    #[arg(long)]
    limit: Option<usize>,
    /// Accept a drop in the number of HR records beyond lifecycle.max_record_drop_percent for
    /// this run (otherwise its leavers are withheld).
    #[arg(long)]
    accept_drop: bool,
    /// Release the changes that run RUN held over a blast-radius threshold (exactly those; a
    /// new plan that holds other people keeps holding them).
    #[arg(long, value_name = "RUN")]
    confirm_held: Option<i64>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate the configuration: syntax, references, secrets present, formats compile
    /// (unknown filters, unclosed braces), files exist. With --online, also bind to the
    /// directory, check that the DNs the config names exist, and call HR for one page to
    /// compare the fields the formats read with what comes back. Writes nothing.
    Check {
        #[command(flatten)]
        common: Common,
        /// Also test the directory and HR for real (bind, DNs exist, one HR page, fields).
        #[arg(long)]
        online: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Accounts that carry a key this mapping's HR does not have and that the mapping never
    /// created or adopted: never changed by hrsync (unless lifecycle.unlinked = "disable").
    /// Runs a plan (recorded like `hrsync plan`) to find them.
    Orphans {
        #[command(flatten)]
        common: Common,
        /// Only this mapping (default: every mapping).
        #[arg(short, long)]
        mapping: Option<String>,
        /// Print the orphans as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch from HR, read the directory, and show what would change. Changes nothing.
    Plan {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        show: Show,
        #[command(flatten)]
        save: cli::plans::SaveArgs,
    },
    /// Plan, show the plan, and apply it after confirmation (or with --yes).
    Apply {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        show: Show,
        /// Apply without asking (unattended runs).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        from: cli::plans::FromArgs,
    },
    /// Approve (or reject) the changes of a saved plan that wait for approval.
    Approve {
        #[command(flatten)]
        common: Common,
        /// The plan (its run id).
        plan: i64,
        /// Approve only these: a change class (disable, move, …) or an HR key.
        #[arg(long, value_name = "KIND|KEY", num_args = 1..)]
        only: Vec<String>,
        /// Reject these (never applied): a change class or an HR key.
        #[arg(long, value_name = "KIND|KEY", num_args = 1..)]
        reject: Vec<String>,
        /// Why (stored with the decision).
        #[arg(long)]
        comment: Option<String>,
        /// Print the decisions as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Changes waiting for approval, per saved plan.
    Approvals {
        #[command(flatten)]
        common: Common,
        /// Only this mapping.
        #[arg(short, long)]
        mapping: Option<String>,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Work with an integration's endpoints.
    Endpoint {
        #[command(subcommand)]
        cmd: EndpointCmd,
    },
    /// People secondary matching could not place (several candidate accounts, or one account
    /// wanted by several people): list them and decide. Decisions take effect on the next run.
    Review {
        #[command(subcommand)]
        cmd: ReviewCmd,
    },
    /// Run as a daemon: scheduled automations, HR events, orchestration steps, health and
    /// Prometheus metrics over HTTP. Stops cleanly on SIGTERM/SIGINT.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Listen address (default: serve.listen, 127.0.0.1:8750).
        #[arg(long)]
        listen: Option<String>,
    },
    /// API tokens for automation (create, list, revoke) and the break-glass password hash.
    Token {
        #[command(subcommand)]
        cmd: cli::token::TokenCmd,
    },
    /// Scheduled automations.
    Automation {
        #[command(subcommand)]
        cmd: AutomationCmd,
    },
    /// OAuth integrations: the one-time authorization.
    Oauth {
        #[command(subcommand)]
        cmd: cli::oauth::OAuthCmd,
    },
    /// Outbound webhooks.
    Webhook {
        #[command(subcommand)]
        cmd: cli::orchestrate::WebhookCmd,
    },
    /// The webhook delivery log, newest first: request (secrets redacted), status, attempts,
    /// error; from `webhook test` and orchestration steps.
    Deliveries {
        #[command(flatten)]
        common: Common,
        /// Only deliveries of this [[webhook]].
        #[arg(long, value_name = "NAME")]
        webhook: Option<String>,
        /// Show at most this many deliveries, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print the deliveries as JSON (as stored, secrets redacted).
        #[arg(long)]
        json: bool,
    },
    /// Orchestration templates and their outbox.
    Orchestrate {
        #[command(subcommand)]
        cmd: cli::orchestrate::OrchestrateCmd,
    },
    /// Notification channels ([[notify]]): send a test message, show what was sent.
    Notify {
        #[command(subcommand)]
        cmd: cli::notify::NotifyCmd,
    },
    /// List past runs.
    Runs {
        #[command(flatten)]
        common: Common,
        /// Show at most this many runs, newest first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print the runs as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Why a person's account looks as it does: the HR record as fetched, each attribute's
    /// format and the fields it read, unique-name candidates, manager resolution, scope and
    /// leaver rules, the entry today, what a plan would do, audit and orchestrations. Applies
    /// nothing, records no run; works for a person without an account.
    Explain {
        #[command(flatten)]
        common: Common,
        /// The mapping (needed when the configuration has more than one).
        #[arg(short, long)]
        mapping: Option<String>,
        /// HR primary key of the person.
        key: String,
        /// Print the explanation as JSON (stable field names; see the README).
        #[arg(long)]
        json: bool,
        /// Show sensitive HR values (SSN, birth date, salary, bank, tax id, …), masked by
        /// default.
        #[arg(long)]
        show_sensitive: bool,
        /// Audit rows and orchestration instances shown, newest first.
        #[arg(long, value_name = "N", default_value_t = 10)]
        history: usize,
    },
    /// What would a configuration change do to real people? Maps the HR records a full run
    /// fetched (kept as a snapshot, [state] keep_hr_snapshots) with this configuration and
    /// compares the result with what the run's own configuration made of them and with the
    /// directory now: attributes changed or removed, DNs, leavers, collisions, what
    /// thresholds would hold. Writes nothing.
    Replay {
        #[command(flatten)]
        common: Common,
        /// The mapping (needed when the configuration has more than one).
        #[arg(short, long)]
        mapping: Option<String>,
        /// The run whose HR snapshot is replayed (default: the newest kept).
        #[arg(long)]
        run: Option<i64>,
        /// The old configuration to compare with (default: the text the run used, kept in
        /// its snapshot).
        #[arg(long, value_name = "FILE")]
        old: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Examples shown per section.
        #[arg(long, value_name = "N", default_value_t = 5)]
        examples: usize,
        /// Do not bind to the directory: compare the two configurations only.
        #[arg(long)]
        no_directory: bool,
        /// List the runs whose snapshots are kept, and stop.
        #[arg(long, conflicts_with_all = ["run", "old"])]
        list: bool,
    },
    /// Run the mapping's test cases ([[test]] in the config, files in tests/ beside it)
    /// offline: no HR, no directory. Prints a diff per failure; exit code 1 when one fails.
    /// With --record KEY: fetch that person from HR and print (--write: save in tests/) a new
    /// case with the fields of their record the mapping reads (sensitive ones masked) and what
    /// the mapping makes of it.
    Test {
        #[command(flatten)]
        common: Common,
        /// Print the results as JSON.
        #[arg(long, conflicts_with = "record")]
        json: bool,
        /// Snapshot this person (HR primary key) into a new test case.
        #[arg(long, value_name = "KEY")]
        record: Option<String>,
        /// With --record: write the case to tests/KEY.json instead of printing it.
        #[arg(long, requires = "record")]
        write: bool,
        /// With --record: the mapping (needed when the configuration has more than one).
        #[arg(short, long, requires = "record")]
        mapping: Option<String>,
    },
    /// Show audited changes (newest run first).
    Audit {
        #[command(flatten)]
        common: Common,
        /// Only this run.
        #[arg(long)]
        run: Option<i64>,
        /// Only this HR key.
        #[arg(long)]
        key: Option<String>,
        /// Show at most this many changes, newest first.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print the changes as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct ReviewTarget {
    #[command(flatten)]
    common: Common,
    /// The mapping (needed when the configuration has more than one).
    #[arg(short, long)]
    mapping: Option<String>,
    /// HR primary key of the person.
    key: String,
}

#[derive(Subcommand)]
enum ReviewCmd {
    /// People awaiting a decision, with their candidate accounts.
    List {
        #[command(flatten)]
        common: Common,
        /// Only this mapping (needed when the configuration has more than one).
        #[arg(short, long)]
        mapping: Option<String>,
        /// Also decided items.
        #[arg(long)]
        all: bool,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// This account is the person's: the next apply links it (sets the key, re-enables it,
    /// moves it back).
    Adopt {
        #[command(flatten)]
        target: ReviewTarget,
        /// DN of the account (one of the candidates).
        dn: String,
    },
    /// None of the candidates is the person: the next apply creates a new account.
    New {
        #[command(flatten)]
        target: ReviewTarget,
    },
    /// Undo a decision: the person is back on the list.
    Reopen {
        #[command(flatten)]
        target: ReviewTarget,
    },
}

#[derive(Subcommand)]
enum AutomationCmd {
    /// Every automation: schedule, last run and status, next run, whether it is running.
    List {
        #[command(flatten)]
        common: Common,
        /// Print the automations as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum EndpointCmd {
    /// Call the endpoint for real and show the request (secrets redacted), the result, and
    /// every field the records carry (path, types, how many records have it, samples).
    Test {
        #[command(flatten)]
        common: Common,
        /// Name of the [[integration]].
        integration: String,
        /// Endpoint (default: the integration's endpoint).
        endpoint: Option<String>,
        /// Print the field profile as JSON.
        #[arg(long)]
        json: bool,
        /// Leave out sample values (they are real HR data).
        #[arg(long)]
        no_samples: bool,
        /// Also show samples of sensitive fields (SSN, birth date, salary, bank, tax id, …),
        /// which are masked by default.
        #[arg(long, conflicts_with = "no_samples")]
        show_sensitive: bool,
    },
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HRSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}

/// `hrsync orphans … | head -5`: a command whose reader went away ends as Unix tools do (killed
/// by SIGPIPE, quietly) instead of panicking in `println!` (Rust starts with SIGPIPE ignored).
/// Sockets are not affected: their writes use `MSG_NOSIGNAL`. Not for `serve`: the daemon's
/// output going away must not end it.
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: resetting a signal's disposition to its default, before any output is written.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[tokio::main]
async fn main() {
    tune_allocator();
    init_logs();
    let cli = Cli::parse();
    if !matches!(cli.cmd, Cmd::Serve { .. }) {
        end_quietly_on_a_closed_pipe();
    }
    match real_main(cli).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

async fn real_main(cli: Cli) -> Result<i32> {
    match cli.cmd {
        Cmd::Check {
            common,
            online,
            json,
        } => cli::check::run(&common.config, online, json).await,
        Cmd::Orphans {
            common,
            mapping,
            json,
        } => cli::orphans::run(&common.config, mapping.as_deref(), json).await,
        Cmd::Endpoint {
            cmd:
                EndpointCmd::Test {
                    common,
                    integration,
                    endpoint,
                    json,
                    no_samples,
                    show_sensitive,
                },
        } => {
            let samples = match (no_samples, show_sensitive) {
                (true, _) => cli::endpoint::Samples::None,
                (false, true) => cli::endpoint::Samples::All,
                (false, false) => cli::endpoint::Samples::Masked,
            };
            cli::endpoint::run(
                &common.config,
                &integration,
                endpoint.as_deref(),
                json,
                samples,
            )
            .await
        }
        Cmd::Plan { common, show, save } => {
            sync(common, show, Mode::Plan, false, save, Default::default()).await
        }
        Cmd::Apply {
            common,
            show,
            yes,
            from,
        } => sync(common, show, Mode::Apply, yes, Default::default(), from).await,
        Cmd::Approve {
            common,
            plan,
            only,
            reject,
            comment,
            json,
        } => cli::plans::approve(&common.config, plan, only, reject, comment, json),
        Cmd::Approvals {
            common,
            mapping,
            json,
        } => cli::plans::approvals(&common.config, mapping.as_deref(), json),
        Cmd::Review { cmd } => review(cmd),
        Cmd::Serve { common, listen } => {
            let cfg = Config::load(&common.config)?;
            hrsync_server::serve(cfg, listen).await?;
            Ok(0)
        }
        Cmd::Token { cmd } => cli::token::token(cmd),
        Cmd::Automation { cmd } => automation(cmd),
        Cmd::Oauth { cmd } => cli::oauth::oauth(cmd).await,
        Cmd::Webhook { cmd } => cli::orchestrate::webhook(cmd).await,
        Cmd::Orchestrate { cmd } => cli::orchestrate::orchestrate(cmd).await,
        Cmd::Notify { cmd } => cli::notify::notify(cmd).await,
        Cmd::Runs {
            common,
            limit,
            json,
        } => cli::history::runs(&common.config, limit, json),
        Cmd::Explain {
            common,
            mapping,
            key,
            json,
            show_sensitive,
            history,
        } => cli::explain::run(&common.config, mapping, &key, json, show_sensitive, history).await,
        Cmd::Replay {
            common,
            mapping,
            run,
            old,
            json,
            examples,
            no_directory,
            list,
        } => {
            cli::replay::run(cli::replay::Args {
                config: &common.config,
                mapping,
                run,
                old: old.as_deref(),
                json,
                examples,
                directory: !no_directory,
                list,
            })
            .await
        }
        Cmd::Test {
            common,
            json,
            record,
            write,
            mapping,
        } => match record {
            Some(key) => cli::mapping_test::snapshot(&common.config, mapping, &key, write).await,
            None => cli::mapping_test::run(&common.config, json),
        },
        Cmd::Audit {
            common,
            run,
            key,
            limit,
            json,
        } => cli::history::audit(&common.config, run, key.as_deref(), limit, json),
        Cmd::Deliveries {
            common,
            webhook,
            limit,
            json,
        } => cli::history::deliveries(&common.config, webhook.as_deref(), limit, json),
    }
}

struct CliUi<'a> {
    show: &'a Show,
    object_classes: Vec<String>,
    yes: bool,
    printed: bool,
    bar: Option<ProgressBar>,
    done: usize,
    failed: usize,
}

impl Ui for CliUi<'_> {
    fn confirm(&mut self, plan: &Plan) -> bool {
        if !self.show.json {
            print_plan(plan, self.show, &self.object_classes);
            self.printed = true;
        }
        if self.yes {
            return true;
        }
        let n = plan.changes.len();
        eprint!("Apply these {n} change(s)? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_err() {
            return false;
        }
        matches!(line.trim(), "y" | "Y" | "yes" | "YES")
    }
    fn apply_started(&mut self, total: usize) {
        if std::io::stderr().is_terminal() && !self.show.json {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:40} {pos}/{len} changes  {per_sec}  eta {eta}  {msg}",
            ) {
                bar.set_style(style);
            }
            self.bar = Some(bar);
        }
        tracing::info!(total, "applying");
    }
    fn applied(&mut self, o: &Outcome) {
        self.done += 1;
        if !o.ok {
            self.failed += 1;
        }
        match &self.bar {
            Some(b) => {
                b.inc(1);
                if !o.ok {
                    b.set_message(format!("{} failed", self.failed));
                }
            }
            None if self.done.is_multiple_of(1000) => {
                tracing::info!(done = self.done, failed = self.failed, "applying")
            }
            None => {}
        }
    }
    fn apply_finished(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

async fn sync(
    common: Common,
    show: Show,
    mode: Mode,
    yes: bool,
    save: cli::plans::SaveArgs,
    from: cli::plans::FromArgs,
) -> Result<i32> {
    let cfg = Config::load(&common.config)?;
    if mode == Mode::Apply && !yes && !std::io::stdin().is_terminal() {
        bail!(
            "refusing to apply without confirmation: stdin is not a terminal; pass --yes for unattended runs"
        );
    }
    let mut store = Store::open(&cfg.state_path())
        .with_context(|| format!("state database {}", cfg.state_path().display()))?;
    let saved = cli::plans::saved_for_apply(&cfg, &store, &from, show.mapping.as_deref())?;
    let names = match (&saved, &show.mapping) {
        (Some(s), _) => vec![s.plan.mapping.clone()],
        (None, Some(m)) => vec![m.clone()],
        (None, None) => cfg.mapping_names(),
    };
    if save.out.is_some() && names.len() > 1 {
        bail!("--out writes one plan: choose the mapping with --mapping");
    }
    let mut code = 0;
    let mut reports: Vec<RunReport> = Vec::new();
    for name in names {
        let job = cfg.job(&name)?;
        let mut ui = CliUi {
            show: &show,
            object_classes: job.directory.object_classes.clone(),
            yes,
            printed: false,
            bar: None,
            done: 0,
            failed: 0,
        };
        let confirmed_held = match show.confirm_held {
            None => Default::default(),
            Some(run) => {
                let plan = store
                    .plan_of(run)?
                    .with_context(|| format!("run {run} has no stored plan"))?;
                if plan.mapping != name {
                    bail!("run {run} is for mapping {:?}, not {name:?}", plan.mapping);
                }
                if plan.held.is_empty() {
                    bail!("run {run} held no changes");
                }
                hrsync_engine::guards::held_tokens(&plan)
            }
        };
        let opts = hrsync_engine::RunOptions {
            accept_record_drop: show.accept_drop,
            confirmed_held,
            save: save.save || save.out.is_some(),
            saved: saved.clone(),
            ..Default::default()
        };
        let report = match hrsync_engine::run_with(
            &job,
            &mut store,
            mode,
            opts,
            Utc::now(),
            &mut ui,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                cli::notify::after_run(&cfg, &mut store, &name, Err(&e.to_string())).await;
                return Err(anyhow::Error::from(e).context(format!("mapping {name:?}")));
            }
        };
        if !ui.printed && !show.json {
            print_plan(&report.plan, &show, &job.directory.object_classes);
        }
        if mode == Mode::Apply && !show.json {
            if report.applied {
                println!(
                    "Applied run {}: {} ok, {} failed{} ({:.2} s){}",
                    report.run_id,
                    report.applied_ok,
                    report.applied_failed,
                    if report.applied_not_attempted > 0 {
                        format!(
                            " ({} of them not attempted: the connection to the directory was lost)",
                            report.applied_not_attempted
                        )
                    } else {
                        String::new()
                    },
                    report.timings.apply_ms as f64 / 1000.0,
                    if report.applied_failed > 0 {
                        format!(
                            "; see `hrsync audit -c {} --run {}`",
                            common.config.display(),
                            report.run_id
                        )
                    } else {
                        String::new()
                    }
                );
                if report.queued_orchestrations > 0 {
                    println!(
                        "Queued {} orchestration instance(s); `hrsync serve` runs them, or `hrsync orchestrate work -c {}` (see `hrsync orchestrate list`)",
                        report.queued_orchestrations,
                        common.config.display()
                    );
                }
            } else if !report.plan.is_empty() {
                println!("Not applied.");
            }
        }
        if !show.json {
            let held_approval =
                hrsync_engine::plans::approval::held_needs_approval(job.approval.as_ref());
            print_status(&report, mode, &common.config, held_approval);
            cli::plans::print_status(&report, &common.config);
        }
        if save.save || save.out.is_some() {
            cli::plans::after_save(&store, &report, &save, &common.config, show.json)?;
        }
        cli::notify::after_run(&cfg, &mut store, &name, Ok(&report)).await;
        code = worse(code, report.status.exit_code());
        reports.push(report);
    }
    if show.json {
        // Serialised straight from the reports (no intermediate JSON tree: plans can be large).
        #[derive(serde::Serialize)]
        struct Json<'a> {
            run_id: i64,
            status: hrsync_engine::RunStatus,
            applied: bool,
            applied_ok: usize,
            applied_failed: usize,
            /// Orchestration instances queued (run by `serve` or `orchestrate work`).
            queued_orchestrations: usize,
            timings: &'a hrsync_engine::Timings,
            plan: &'a Plan,
        }
        let v: Vec<Json<'_>> = reports
            .iter()
            .map(|r| Json {
                run_id: r.run_id,
                status: r.status,
                applied: r.applied,
                applied_ok: r.applied_ok,
                applied_failed: r.applied_failed,
                queued_orchestrations: r.queued_orchestrations,
                timings: &r.timings,
                plan: &r.plan,
            })
            .collect();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        if v.len() == 1 {
            serde_json::to_writer_pretty(&mut out, &v[0])?;
        } else {
            serde_json::to_writer_pretty(&mut out, &v)?;
        }
        writeln!(out)?;
        out.flush()?;
    }
    Ok(code)
}

/// The worse of two exit codes: a cancelled run (7, only through the API) over failed changes
/// (3) over an incomplete fetch (4) over stale changes of a saved plan (6) over held changes
/// (5) over success (0).
fn worse(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        0 => 0,
        5 => 1,
        6 => 2,
        4 => 3,
        3 => 4,
        7 => 5,
        _ => 6,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// The run's status line, and what to do about anything not done.
fn print_status(report: &RunReport, mode: Mode, config: &std::path::Path, held_approval: bool) {
    let plan = &report.plan;
    let run = report.run_id;
    let cfg = config.display();
    println!("Run {run}: {}", report.status.as_str());
    if !plan.fetch.complete {
        println!(
            "  The HR fetch was INCOMPLETE ({}): nobody was treated as a leaver.{}",
            plan.fetch
                .error
                .as_deref()
                .unwrap_or("not every page arrived"),
            if mode == Mode::Apply && report.applied {
                " Creates and updates of the people that arrived were applied."
            } else {
                ""
            }
        );
    }
    if !plan.held.is_empty() && held_approval {
        println!(
            "  {} change(s) HELD by thresholds (not applied) need an approval; review them, then: hrsync approve -c {cfg} {run}, and hrsync apply -c {cfg} --plan {run}",
            plan.held.len()
        );
    } else if !plan.held.is_empty() {
        println!(
            "  {} change(s) HELD by thresholds (not applied); review them, then: hrsync apply -c {cfg} --confirm-held {run}",
            plan.held.len()
        );
    }
    if plan.fetch.complete && plan.leavers_withheld > 0 {
        println!(
            "  {} leaver change(s) WITHHELD: {}",
            plan.leavers_withheld,
            plan.leavers_withheld_reason
                .as_deref()
                .unwrap_or("see the plan")
        );
    }
}

fn print_plan(plan: &Plan, show: &Show, object_classes: &[String]) {
    if show.ldif {
        print!("{}", hrsync_plan::render_ldif(plan, object_classes));
        return;
    }
    let limit = if show.summary { Some(0) } else { show.limit };
    print!("{}", hrsync_plan::render_text(plan, true, limit));
}

/// The one mapping a command about people is about: the given one, or the only one.
fn one_mapping(cfg: &Config, mapping: Option<String>) -> Result<String> {
    let names = cfg.mapping_names();
    match mapping {
        Some(m) if names.contains(&m) => Ok(m),
        Some(m) => bail!("no enabled mapping {m:?}; the configuration has {names:?}"),
        None if names.len() == 1 => Ok(names[0].clone()),
        None => {
            bail!("the configuration has several mappings ({names:?}); choose one with --mapping")
        }
    }
}

fn review(cmd: ReviewCmd) -> Result<i32> {
    let decide = |target: ReviewTarget, status: &str, dn: Option<String>| -> Result<i32> {
        let cfg = Config::load(&target.common.config)?;
        let mapping = one_mapping(&cfg, target.mapping)?;
        let mut store = Store::open(&cfg.state_path())?;
        let item = store
            .review(Some(&mapping), true)?
            .into_iter()
            .find(|r| r.hr_key == target.key);
        let Some(item) = item else {
            bail!(
                "{:?} is not on the review list of mapping {mapping:?} (see `hrsync review list --all`)",
                target.key
            );
        };
        if let Some(d) = &dn
            && !item
                .candidates
                .iter()
                .any(|c| hrsync_model::dn::same(&c.dn, d))
        {
            bail!(
                "{d} is not one of the candidates of {:?}: {:?}",
                target.key,
                item.candidates.iter().map(|c| &c.dn).collect::<Vec<_>>()
            );
        }
        let by = hrsync_state::operator_name();
        store.decide(
            &mapping,
            &target.key,
            status,
            dn.as_deref(),
            &by,
            Utc::now(),
        )?;
        println!(
            "{}: {}; takes effect on the next plan/apply",
            target.key,
            match status {
                "adopt" => format!("the account {} will be linked", dn.unwrap_or_default()),
                "new" => "a new account will be created".to_string(),
                _ => "back on the review list".to_string(),
            }
        );
        Ok(0)
    };
    match cmd {
        ReviewCmd::List {
            common,
            mapping,
            all,
            json,
        } => {
            let cfg = Config::load(&common.config)?;
            let store = Store::open(&cfg.state_path())?;
            let rows = store.review(mapping.as_deref(), all)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(0);
            }
            if rows.is_empty() {
                println!("nothing to review");
            }
            for r in rows {
                println!(
                    "{} [{}] {}: {}{}",
                    r.hr_key,
                    r.mapping,
                    r.status,
                    r.reason,
                    match (&r.chosen_dn, &r.decided_by) {
                        (Some(d), Some(by)) => format!(" → {d} (by {by})"),
                        (None, Some(by)) => format!(" (by {by})"),
                        _ => String::new(),
                    }
                );
                for c in r.candidates {
                    println!(
                        "    {}{}{}  matched on {}",
                        c.dn,
                        c.key.map(|k| format!("  [key {k}]")).unwrap_or_default(),
                        if c.disabled { "  (disabled)" } else { "" },
                        c.matched_on.join(", ")
                    );
                }
            }
            Ok(0)
        }
        ReviewCmd::Adopt { target, dn } => decide(target, "adopt", Some(dn)),
        ReviewCmd::New { target } => decide(target, "new", None),
        ReviewCmd::Reopen { target } => decide(target, "open", None),
    }
}

fn automation(cmd: AutomationCmd) -> Result<i32> {
    let AutomationCmd::List { common, json } = cmd;
    let cfg = Config::load(&common.config)?;
    let store = Store::open(&cfg.state_path())?;
    let rows = store.automations()?;
    let mut out = Vec::new();
    for a in &cfg.raw.automations {
        let row = rows.iter().find(|r| r.name == a.name);
        out.push(serde_json::json!({
            "name": a.name,
            "mapping": a.mapping,
            "schedule": a.schedule,
            "schedule_text": hrsync_config::schedule::parse(&a.schedule).map(|c| c.describe()).unwrap_or_default(),
            "mode": a.mode,
            "fetch": a.fetch,
            "enabled": a.enabled,
            "missed": a.missed,
            "last_start": row.and_then(|r| r.last_start),
            "last_status": row.and_then(|r| r.last_status.clone()),
            "last_run_id": row.and_then(|r| r.last_run_id),
            // Not scheduled by a daemon yet: when it would run.
            "next_run": row.and_then(|r| r.next_run).or_else(|| {
                hrsync_config::schedule::parse(&a.schedule)
                    .ok()
                    .and_then(|c| hrsync_config::schedule::next_after(&c, Utc::now()))
            }),
            "running_since": row.and_then(|r| r.running_since),
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    if out.is_empty() {
        println!("no [[automation]] in {}", common.config.display());
    }
    println!(
        "{:<20} {:<16} {:<16} {:<25} {:<12} {:<25} running",
        "name", "mapping", "schedule", "last run", "status", "next run"
    );
    for v in out {
        let s = |k: &str| {
            v[k].as_str().map(str::to_string).unwrap_or_else(|| {
                if v[k].is_null() {
                    "-".into()
                } else {
                    v[k].to_string()
                }
            })
        };
        println!(
            "{:<20} {:<16} {:<16} {:<25} {:<12} {:<25} {}",
            s("name"),
            s("mapping"),
            s("schedule"),
            s("last_start"),
            s("last_status"),
            if v["enabled"] == true {
                s("next_run")
            } else {
                "disabled".into()
            },
            s("running_since")
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the hand-written option index against a mimalloc upgrade that renumbers it: the
    /// index must read as v3's purge-delay default, and tuning must set it.
    #[test]
    fn the_purge_delay_option_index_is_mimallocs() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return; // the environment decides; nothing of ours to check
        }
        // SAFETY: FFI reads of an option value.
        let before = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert!(
            before == MI_DEFAULT_PURGE_DELAY || before == PURGE_DELAY_MS,
            "option {MI_OPTION_PURGE_DELAY} reads {before}: not mimalloc v3's purge_delay (renumbered?)"
        );
        // Its neighbours are not the purge delay's default: the index is not off by one.
        // SAFETY: as above.
        let (below, above) = unsafe {
            (
                mi_option_get(MI_OPTION_PURGE_DELAY - 1),
                mi_option_get(MI_OPTION_PURGE_DELAY + 1),
            )
        };
        assert_ne!(below, MI_DEFAULT_PURGE_DELAY);
        assert_ne!(above, MI_DEFAULT_PURGE_DELAY);
        tune_allocator();
        // SAFETY: as above.
        assert_eq!(
            unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) },
            PURGE_DELAY_MS
        );
    }
}
