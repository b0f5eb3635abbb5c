use clap::Args;

use crate::cli::Ctx;
use crate::error::{exit, Error, Result};
use crate::model::{short_id, RunState};
use crate::workspace::{self, BranchOutcome};

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Run id (any unique prefix); the run must have ended.
    pub run: String,
}

/// Removes a finished run: its workspace (via git), its branch if it holds
/// nothing unmerged, and its records.
pub fn run(ctx: &Ctx, args: RmArgs) -> Result<u8> {
    let mut store = ctx.store()?;
    let run = store.find_run(&args.run)?;
    if run.state.is_active() {
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
        return Err(Error::conflict(format!("run {id} is still {}", run.state)).with_hint(hint));
    }
    let ws = super::workspace_of(ctx, &store, &run)?;
    let outcome = workspace::remove(&ws)?;
    store.delete_run(&run.id)?;
    // Gone already when the run never got that far.
    let _ = std::fs::remove_file(ctx.paths.prompt_file(&run.id));
    let branch = match outcome.branch {
        Some(BranchOutcome::Deleted { name }) => format!("; branch {name} deleted"),
        Some(BranchOutcome::Kept { name, reason }) => format!("; branch {name} kept: {reason}"),
        Some(BranchOutcome::Missing { .. }) | None => String::new(),
    };
    ctx.ui
        .line(format!("Removed run {}{branch}", short_id(&run.id)))?;
    Ok(exit::OK)
}
