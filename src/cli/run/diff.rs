use clap::Args;

use crate::cli::Ctx;
use crate::error::{exit, Result};
use crate::workspace;

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Run id (any unique prefix).
    pub run: String,
    /// Only the summary of changed files.
    #[arg(long)]
    pub stat: bool,
}

/// The run's changes against the commit its branch started from
/// (uncommitted work included while the run is active).
pub fn run(ctx: &Ctx, args: DiffArgs) -> Result<u8> {
    let store = ctx.store()?;
    let run = store.find_run(&args.run)?;
    let ws = super::workspace_of(ctx, &store, &run)?;
    let patch = workspace::diff(&ws, args.stat)?;
    let out = patch.strip_suffix('\n').unwrap_or(&patch);
    if !out.is_empty() {
        ctx.ui.line(out)?;
    }
    Ok(exit::OK)
}
