use clap::Args;

use crate::cli::follow::{follow_run, state_types, Prints, Until, Watch};
use crate::cli::Ctx;
use crate::client::Client;
use crate::error::{exit, Error, Result};
use crate::model::short_id;
use crate::protocol::Request;

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Run id (any unique prefix).
    pub run: String,
}

/// Stops the run's agent (SIGTERM to its process group, SIGKILL after the
/// grace period) and waits until the run has ended.
pub fn run(ctx: &Ctx, args: CancelArgs) -> Result<u8> {
    let store = ctx.store()?;
    let run = store.find_run(&args.run)?;
    if run.state.is_final() {
        return Err(Error::conflict(format!(
            "run {} has already ended ({})",
            short_id(&run.id),
            run.state
        )));
    }
    Client::connect(&ctx.paths)?.request(&Request::CancelRun {
        run_id: run.id.clone(),
    })?;
    let last = store.last_seq(&run.id)?;
    let watch = Watch {
        since: last,
        types: state_types(),
        ..Watch::new(Until::Ended, Prints::Nothing)
    };
    let state = follow_run(ctx, &run.id, watch, |_| Ok(()))?;
    ctx.ui
        .line(format!("Run {} {}", short_id(&run.id), state))?;
    Ok(exit::OK)
}
