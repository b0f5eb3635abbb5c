mod cancel;
mod diff;
mod done;
mod list;
mod rm;
mod show;
mod start;
mod wait;

use clap::Subcommand;

use super::Ctx;
use crate::error::Result;
use crate::model::Run;
use crate::store::Store;
use crate::workspace::{Workspace, WorkspaceRequest};

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Start an agent on a repo, in a workspace of its own.
    ///
    /// Example: m run start -r api "fix the flaky test" -- ./agent.sh
    Start(start::StartArgs),
    /// List runs, newest first.
    #[command(alias = "ls")]
    List(list::ListArgs),
    /// Show one run in detail.
    Show(show::ShowArgs),
    /// Stop a run's agent; the run ends cancelled.
    Cancel(cancel::CancelArgs),
    /// Wait until a run needs a human or has ended (see exit codes).
    Wait(wait::WaitArgs),
    /// End a conversational (ACP) run that waits for its next prompt.
    Done(done::DoneArgs),
    /// Show a run's changes against where its branch started.
    Diff(diff::DiffArgs),
    /// Remove a finished run, its workspace and (if merged) its branch.
    ///
    /// A workspace holding work its branch lacks (uncommitted changes, or a
    /// HEAD moved off the branch) is not removed: the run stays, and the
    /// error (exit 4) says what to do.
    #[command(alias = "remove")]
    Rm(rm::RmArgs),
}

pub fn run(ctx: &Ctx, cmd: RunCommand) -> Result<u8> {
    match cmd {
        RunCommand::Start(args) => start::run(ctx, args),
        RunCommand::List(args) => list::run(ctx, args),
        RunCommand::Show(args) => show::run(ctx, args),
        RunCommand::Cancel(args) => cancel::run(ctx, args),
        RunCommand::Wait(args) => wait::run(ctx, args),
        RunCommand::Done(args) => done::run(ctx, args),
        RunCommand::Diff(args) => diff::run(ctx, args),
        RunCommand::Rm(args) => rm::run(ctx, args),
    }
}

/// A run's workspace as recorded: where it is, its branch and base.
pub(crate) fn workspace_of(ctx: &Ctx, store: &Store, run: &Run) -> Result<Workspace> {
    let repo = store.get_repo(&run.repo_id)?;
    let details = store.run_details(&run.id)?;
    Workspace::recorded(
        &WorkspaceRequest {
            run_id: &run.id,
            git_url: repo.git_url.as_deref(),
            base: None,
            workspaces_dir: &ctx.paths.workspaces(),
            mirrors_dir: &ctx.paths.mirrors(),
        },
        details.branch,
        details.base_commit,
    )
}
