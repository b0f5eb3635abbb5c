use clap::Args;

use crate::cli::Ctx;
use crate::error::{exit, Error, Result};
use crate::model::{short_id, Run, RunState};
use crate::store::Store;
use crate::workspace::{self, BranchOutcome};

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Run ids (any unique prefixes); each run must have ended.
    #[arg(required = true, value_name = "RUN")]
    #[arg(add = crate::cli::complete::run_ids())]
    pub runs: Vec<String>,
    /// Also remove work found nowhere else: changes never committed in a
    /// workspace, and a branch whose commits are merged nowhere (its tip is
    /// printed, to bring it back with `git branch`).
    #[arg(long, short = 'f')]
    pub force: bool,
}

/// Removes finished runs: each one's workspace (via git), its branch if it
/// holds nothing unmerged, and its records. Every id is checked before
/// anything is removed; a workspace holding work its branch lacks is kept
/// (with its run), the others are removed all the same, and the command
/// then exits 4. With `--force` nothing is kept but a branch checked out
/// elsewhere.
pub fn run(ctx: &Ctx, args: RmArgs) -> Result<u8> {
    let mut store = ctx.store()?;
    let mut runs: Vec<Run> = Vec::new();
    for id in &args.runs {
        let run = store.find_run(id)?;
        if run.state.is_active() {
            return Err(still_active(&store, &run)?);
        }
        if !runs.iter().any(|r| r.id == run.id) {
            runs.push(run);
        }
    }
    remove_runs(ctx, &mut store, &runs, args.force)
}

/// Removes each of `runs` (all finished), saying how each went; the first
/// run kept decides the exit code (its error is printed as it comes).
pub(crate) fn remove_runs(ctx: &Ctx, store: &mut Store, runs: &[Run], force: bool) -> Result<u8> {
    let mut code = exit::OK;
    for run in runs {
        match remove_run(ctx, store, run, force) {
            Ok(line) => ctx.ui.line(line)?,
            Err(err) if runs.len() > 1 && err.kind == crate::error::ErrorKind::Conflict => {
                crate::cli::output::print_error(&err);
                if code == exit::OK {
                    code = err.kind.exit_code();
                }
            }
            Err(err) => return Err(err),
        }
    }
    Ok(code)
}

fn still_active(store: &Store, run: &Run) -> Result<Error> {
    let id = short_id(&run.id);
    let conversation_waits = run.state == RunState::WaitingInput
        && super::is_conversational(&store.run_details(&run.id)?);
    let hint = if conversation_waits {
        format!(
            "end it first with `m run done {id}` (its work is committed), \
             or cancel it: `m run cancel {id}`"
        )
    } else {
        format!("cancel it first: `m run cancel {id}`")
    };
    Ok(Error::conflict(format!("run {id} is still {}", run.state)).with_hint(hint))
}

/// Removes one finished run; returns the line that says so.
fn remove_run(ctx: &Ctx, store: &mut Store, run: &Run, force: bool) -> Result<String> {
    let ws = super::workspace_of(ctx, store, run)?;
    let outcome = if force {
        workspace::remove_discarding(&ws)?
    } else {
        workspace::remove(&ws)?
    };
    store.delete_run(&run.id)?;
    // Gone already when the run never got that far.
    let _ = std::fs::remove_file(ctx.paths.prompt_file(&run.id));
    let branch = match outcome.branch {
        Some(BranchOutcome::Deleted { name }) => format!("; branch {name} deleted"),
        Some(BranchOutcome::Kept { name, reason }) => format!("; branch {name} kept: {reason}"),
        Some(BranchOutcome::Discarded { name, tip }) => format!(
            "; branch {name} deleted with its unmerged work (`git branch {name} {tip}` brings it back)"
        ),
        Some(BranchOutcome::Missing { .. }) | None => String::new(),
    };
    Ok(format!("Removed run {}{branch}", short_id(&run.id)))
}
