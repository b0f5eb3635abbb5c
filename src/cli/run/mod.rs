mod cancel;
mod diff;
mod done;
mod list;
mod prune;
mod rm;
mod show;
mod start;
mod wait;

use std::io::{IsTerminal as _, Write as _};
use std::time::Instant;

use clap::Subcommand;

use super::follow::{follow_run, Prints, Until, Watch};
use super::progress::Progress;
use super::Ctx;
use crate::error::Result;
use crate::model::{short_id, Run, RunState};
use crate::model::{AgentSpec, RunOptions};
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
    /// Remove finished runs, their workspaces and (if merged) their branches.
    ///
    /// A workspace holding work its branch lacks (uncommitted changes, or a
    /// HEAD moved off the branch) is not removed: the run stays, and the
    /// error (exit 4) says what to do.
    #[command(alias = "remove")]
    Rm(rm::RmArgs),
    /// Remove finished runs (all, or those older than a duration, in a
    /// state, of a repo), as `m run rm` removes each.
    ///
    /// Branches not merged yet, and workspaces holding work their branch
    /// lacks, are kept (the latter with their runs: exit 4).
    Prune(prune::PruneArgs),
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
        RunCommand::Prune(args) => prune::run(ctx, args),
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
/// With a `deadline`, fails with `ErrorKind::TimedOut` once it has passed.
pub(crate) fn wait_for_human(
    ctx: &Ctx,
    run_id: &str,
    deadline: Option<Instant>,
) -> Result<RunState> {
    let mut progress = Progress::for_run(run_id, true);
    // A spinner shows what the agent does; without one only the state
    // changes (and git's milestones) need cross the socket.
    let watch = Watch {
        types: progress.wanted_types(),
        deadline,
        ..Watch::new(Until::NeedsHuman, Prints::Nothing)
    };
    let state = follow_run(ctx, run_id, watch, |event| {
        progress.event(event);
        Ok(())
    })?;
    drop(progress);
    Ok(state)
}

/// After `--wait`, `--follow` or `run wait`: how the run stands, in one line
/// on stderr, once the spinner is gone (stdout carries only the run's id,
/// for scripts). A run that failed or was cancelled always says why (`run
/// 1a2b3c4d failed: the agent exited with status 7`); on a terminal every
/// end gets its line, with what to do next.
pub(crate) fn report_end(store: &Store, run_id: &str, state: RunState) -> Result<()> {
    let short = short_id(run_id);
    let state_name = state.as_str();
    let mut line = format!("run {short} ");
    match state {
        RunState::Failed | RunState::Cancelled => {
            let finished = store.run_finished(run_id)?;
            let reason = finished
                .as_ref()
                .and_then(|data| data.get("reason"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            line.push_str(&console::style(state_name).red().for_stderr().to_string());
            // A cancelled run's reason is just "cancelled": not worth saying twice.
            if !reason.is_empty() && reason != state_name {
                line.push_str(": ");
                line.push_str(&crate::cli::output::printable(reason));
            }
        }
        _ if !std::io::stderr().is_terminal() => return Ok(()),
        RunState::Completed => {
            line.push_str(&console::style("completed").green().for_stderr().to_string());
            if let Some(branch) = store.run_details(run_id)?.branch {
                line.push_str(&format!(" on branch {branch}"));
            }
        }
        RunState::WaitingApproval => line.push_str(&format!(
            "waits for an approval: m approval show {short}, then m approve {short} or m reject {short}"
        )),
        RunState::WaitingInput => line.push_str(&format!(
            "waits for input: m run show {short} says what it asks, m reply {short} ANSWER answers"
        )),
        RunState::Running => line.push_str("is running"),
    }
    // Nobody left to tell (stderr closed) is no reason to fail the command.
    let _ = writeln!(std::io::stderr(), "{line}");
    Ok(())
}

pub(crate) use crate::model::{format_duration, parse_duration};
