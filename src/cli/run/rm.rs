use clap::Args;

use crate::cli::Ctx;
use crate::error::{exit, Error, Result};
use crate::model::short_id;
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
        return Err(
            Error::conflict(format!("run {} is still {}", short_id(&run.id), run.state)).with_hint(
                format!("cancel it first: `m run cancel {}`", short_id(&run.id)),
            ),
        );
    }
    let ws = super::workspace_of(ctx, &store, &run)?;
    let outcome = workspace::remove(&ws)?;
    store.delete_run(&run.id)?;
    let branch = match outcome.branch {
        Some(BranchOutcome::Deleted { name }) => format!("; branch {name} deleted"),
        Some(BranchOutcome::Kept { name, reason }) => format!("; branch {name} kept: {reason}"),
        Some(BranchOutcome::Missing { .. }) | None => String::new(),
    };
    ctx.ui
        .line(format!("Removed run {}{branch}", short_id(&run.id)))?;
    Ok(exit::OK)
}
