mod cancel;
mod diff;
mod done;
mod list;
mod rm;
mod show;
mod start;
mod wait;

use std::io::Write as _;

use clap::Subcommand;

use super::follow::{follow_run, Prints, Until};
use super::progress::Progress;
use super::Ctx;
use crate::agent::AgentSpec;
use crate::error::Result;
use crate::model::{short_id, Run, RunState};
use crate::protocol::RunOptions;
use crate::store::{RunDetails, Store};
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
    /// Show one run in detail, with the approvals and questions it waits on.
    Show(show::ShowArgs),
    /// Stop a run's agent, or take a queued run out of its queue; the run
    /// ends cancelled.
    Cancel(cancel::CancelArgs),
    /// Wait until a run needs a human or has ended (see exit codes).
    Wait(wait::WaitArgs),
    /// End a conversational (ACP) run that waits for its next prompt.
    ///
    /// Its work is committed and it completes (after its review, with
    /// --review). Any other run (a plain command, an ACP agent started with
    /// --once) ends with its agent: `m run done` refuses it (exit 2).
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

/// Whether the run is a conversation that `m run done` ends (see
/// `AgentSpec::is_conversational`), from what was recorded when it started.
pub(crate) fn is_conversational(details: &RunDetails) -> bool {
    let Ok(agent) = serde_json::from_value::<AgentSpec>(details.agent.clone()) else {
        return false;
    };
    let options: RunOptions = serde_json::from_value(details.options.clone()).unwrap_or_default();
    agent.is_conversational(options.once)
}

/// `--wait` and `run wait`: follows the run until it needs a human or has
/// ended, with a spinner (terminal) or plain lines, which are cleared before
/// the state is returned, so that the lines saying how the run stands
/// come after them.
pub(crate) fn wait_for_human(ctx: &Ctx, run_id: &str) -> Result<RunState> {
    let mut progress = Progress::for_run(run_id, true);
    // A spinner shows what the agent does; without one only the state
    // changes (and git's milestones) need cross the socket.
    let types = progress.wanted_types();
    let state = follow_run(
        ctx,
        run_id,
        0,
        Until::NeedsHuman,
        Prints::Nothing,
        types,
        |event| {
            progress.event(event);
            Ok(())
        },
    )?;
    drop(progress);
    Ok(state)
}

/// After `--wait` or `run wait`, a run that failed or was cancelled says why
/// on stderr, in one line (`run 1a2b3c4d failed: the agent exited with
/// status 7`): the spinner that showed it is gone, and stdout carries only
/// the run's id, for scripts.
pub(crate) fn report_unhappy_end(store: &Store, run_id: &str, state: RunState) -> Result<()> {
    if !matches!(state, RunState::Failed | RunState::Cancelled) {
        return Ok(());
    }
    let finished = store.run_finished(run_id)?;
    let reason = finished
        .as_ref()
        .and_then(|data| data.get("reason"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let state_name = state.as_str();
    let mut line = format!(
        "run {} {}",
        short_id(run_id),
        console::style(state_name).red().for_stderr()
    );
    // A cancelled run's reason is just "cancelled": not worth saying twice.
    if !reason.is_empty() && reason != state_name {
        line.push_str(": ");
        line.push_str(&crate::cli::output::printable(reason));
    }
    // Nobody left to tell (stderr closed) is no reason to fail the command.
    let _ = writeln!(std::io::stderr(), "{line}");
    Ok(())
}
