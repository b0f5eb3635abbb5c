use clap::Args;

use crate::cli::Ctx;
use crate::error::Result;

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Run id (any unique prefix).
    pub run: String,
}

/// Returns when the run needs a human or has ended. Exit codes: 0
/// completed, 10 failed, 11 cancelled, 12 waiting for approval, 13 waiting
/// for input.
pub fn run(ctx: &Ctx, args: WaitArgs) -> Result<u8> {
    let store = ctx.store()?;
    let run = store.find_run(&args.run)?;
    let state = if run.state.is_final() {
        run.state
    } else {
        super::wait_for_human(ctx, &run.id)?
    };
    super::report_unhappy_end(&store, &run.id, state)?;
    Ok(state.exit_code())
}
