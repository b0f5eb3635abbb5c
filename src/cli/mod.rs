//! The command line: clap types, and one file per command (a folder per
//! group). `run` parses nothing; it dispatches a parsed [`Cli`].

mod agents;
mod approval;
pub(crate) mod approvals;
mod ask;
mod complete;
mod completions;
mod config;
mod daemon;
mod decide;
mod device;
mod docs;
mod doctor;
pub(crate) mod events;
mod follow;
mod gc;
mod interrupt;
mod keeper;
mod notify;
pub mod output;
mod progress;
mod reply;
mod repo;
pub(crate) mod run;
mod status;
pub mod suggest;

use clap::{Parser, Subcommand};

use crate::error::Result;
use crate::paths::Paths;
use crate::store::Store;
use output::{ColorChoice, Ui};

#[derive(Debug, Parser)]
#[command(
    name = "m",
    version,
    about = "Run AI coding agents in the background and stay in control of them",
    propagate_version = true,
    max_term_width = 100,
    after_long_help = ROOT_AFTER_HELP
)]
pub struct Cli {
    /// When to use colours (NO_COLOR is honoured by `auto`).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register, list and remove repositories agents work on.
    #[command(subcommand)]
    Repo(repo::RepoCommand),
    /// Start, list, inspect and control runs.
    #[command(subcommand)]
    Run(run::RunCommand),
    /// Print a run's event log.
    Events(events::EventsArgs),
    /// List approvals (pending ones by default).
    Approvals(approvals::ApprovalsArgs),
    /// Inspect one approval.
    #[command(subcommand)]
    Approval(approval::ApprovalCommand),
    /// Approve a pending approval (by its id, or its run's).
    Approve(decide::ApproveArgs),
    /// Reject a pending approval; the reason is passed to the agent.
    Reject(decide::RejectArgs),
    /// Answer a run that waits for input.
    Reply(reply::ReplyArgs),
    /// From inside a run: ask a human for an approval or an answer.
    #[command(subcommand)]
    Ask(ask::AskCommand),
    /// Register, list and remove phones that get notifications.
    #[command(subcommand)]
    Device(device::DeviceCommand),
    /// Check notification delivery.
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// The agents m can start by name, and whether each is installed.
    Agents(agents::AgentsArgs),
    /// Drop the output of runs that finished long ago (`--dry-run` says
    /// what would go); runs, approvals, decisions and state changes stay.
    Gc(gc::GcArgs),
    /// The daemon, active runs and pending approvals at a glance.
    Status(status::StatusArgs),
    /// Run, start, stop or check the background daemon that owns the agents.
    #[command(subcommand)]
    Daemon(daemon::DaemonCommand),
    /// Show where the configuration file is and the settings in effect.
    #[command(subcommand, after_long_help = config::keys_help())]
    Config(config::ConfigCommand),
    /// Check git, the config, the database, the socket, the daemon, the
    /// service, how runs' processes are held, the agents and notifications;
    /// print the command that fixes each problem (exit 1 if any).
    Doctor(doctor::DoctorArgs),
    /// Print a shell completion script (see README for where to put it).
    Completions(completions::CompletionsArgs),
    /// Regenerate completions/ and man/ from this command line (maintainers).
    #[command(hide = true)]
    GenerateDocs(docs::GenerateDocsArgs),
    /// The process between the daemon and a run's agent (the daemon starts it).
    #[command(hide = true)]
    Keeper(keeper::KeeperArgs),
}

/// The end of `m --help` and of `man m`.
const ROOT_AFTER_HELP: &str = "\
Exit codes:
  0 ok, 1 failure, 2 usage (also a bad config value), 3 not found,
  4 conflict, 5 no daemon, 6 database unusable, 7 refused (a run's
  process tried to decide), 10 run failed, 11 run cancelled,
  12 waits for an approval, 13 waits for input,
  124 `run wait --timeout` timed out, 130 interrupted (the run goes on)

Environment:
  M_HOME          one directory for everything (config included)
  M_NO_AUTOSTART  1: commands never start a daemon
  M_GRACE_MS      an agent's grace period, in milliseconds
  M_ANSWER_TIMEOUT_MS  how long a command waits for the daemon
  NO_COLOR        no colours

Configuration: `m config show`, `man m-config`.";

/// What every command gets: where the files are and how to print.
pub struct Ctx {
    pub paths: Paths,
    pub ui: Ui,
}

impl Ctx {
    pub fn store(&self) -> Result<Store> {
        Store::open(&self.paths.database())
    }

    /// The configuration file's settings (read once; warnings printed once).
    pub fn config(&self) -> Result<std::sync::Arc<crate::config::Config>> {
        crate::config::load(&self.paths)
    }
}

/// Runs a parsed command line; returns the exit code on success.
/// If a shell's completion script called `m` (`COMPLETE` is set), prints
/// the candidates and exits; otherwise returns at once.
pub fn answer_completion_if_asked() {
    complete::answer_if_asked();
}

pub fn run(cli: Cli) -> Result<u8> {
    // The keeper reads no file and no setting: the daemon gave it all.
    if let Command::Keeper(args) = cli.command {
        return Ok(keeper::run(args));
    }
    let ctx = Ctx {
        paths: Paths::from_env()?,
        ui: Ui::new(cli.color),
    };
    // Every command but these reads the config file first, so a bad value
    // stops it and an unknown key is a warning, whatever the command.
    let reports_config = matches!(
        cli.command,
        Command::Config(_)
            | Command::Doctor(_)
            | Command::Completions(_)
            | Command::GenerateDocs(_)
    );
    if !reports_config {
        ctx.config()?;
    }
    match cli.command {
        Command::Repo(cmd) => repo::run(&ctx, cmd),
        Command::Run(cmd) => run::run(&ctx, cmd),
        Command::Events(args) => events::run(&ctx, args),
        Command::Approvals(args) => approvals::run(&ctx, args),
        Command::Approval(cmd) => approval::run(&ctx, cmd),
        Command::Approve(args) => decide::approve(&ctx, args),
        Command::Reject(args) => decide::reject(&ctx, args),
        Command::Reply(args) => reply::run(&ctx, args),
        Command::Ask(cmd) => ask::run(&ctx, cmd),
        Command::Device(cmd) => device::run(&ctx, cmd),
        Command::Agents(args) => agents::run(&ctx, args),
        Command::Notify(cmd) => notify::run(&ctx, cmd),
        Command::Gc(args) => gc::run(&ctx, args),
        Command::Status(args) => status::run(&ctx, args),
        Command::Daemon(cmd) => daemon::run(&ctx, cmd),
        Command::Config(cmd) => config::run(&ctx, cmd),
        Command::Doctor(args) => doctor::run(&ctx, args),
        Command::Completions(args) => completions::run(&ctx, args),
        Command::GenerateDocs(args) => docs::run(&ctx, args),
        Command::Keeper(_) => unreachable!("the keeper is served above"),
    }
}
