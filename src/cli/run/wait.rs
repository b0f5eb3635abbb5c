use clap::Args;

use crate::cli::follow::{follow_run, Prints, Until};
use crate::cli::progress::Progress;
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
    let run = ctx.store()?.find_run(&args.run)?;
    let state = if run.state.is_final() {
        run.state
    } else {
        let mut progress = Progress::for_run(&run.id, true);
        let types = progress.wanted_types();
        let state = follow_run(
            ctx,
            &run.id,
            0,
            Until::NeedsHuman,
            Prints::Nothing,
            types,
            |event| {
                progress.event(event);
                Ok(())
            },
        )?;
        // The spinner is cleared here, before the line that says how it ended.
        drop(progress);
        state
    };
    super::report_unhappy_end(ctx, &run.id, state)?;
    Ok(state.exit_code())
}
