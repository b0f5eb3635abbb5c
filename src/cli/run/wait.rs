use clap::Args;

use crate::cli::Ctx;
use crate::error::Result;
use crate::store::RunOrQueued;

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
    let (id, state) = match store.find_run_or_queued(&args.run)? {
        RunOrQueued::Run(run) if run.state.is_final() => (run.id, run.state),
        // A queued run is waited for through its start.
        found => {
            let id = found.id().to_string();
            let state = super::wait_for_human(ctx, &id)?;
            (id, state)
        }
    };
    super::report_unhappy_end(&store, &id, state)?;
    Ok(state.exit_code())
}
