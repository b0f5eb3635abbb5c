use clap::Args;

use crate::cli::follow::{follow_run, state_types, Prints, Until, Watch};
use crate::cli::Ctx;
use crate::client::Client;
use crate::error::{exit, Error, Result};
use crate::model::short_id;
use crate::protocol::{CancelRunRequest, Request};
use crate::store::RunOrQueued;

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Run id (any unique prefix).
    #[arg(add = crate::cli::complete::run_ids())]
    pub run: String,
}

/// Stops the run's agent (SIGTERM to its process group, SIGKILL after the
/// grace period) and waits until the run has ended. A queued run is taken
/// out of its queue, and ends cancelled without having started.
pub fn run(ctx: &Ctx, args: CancelArgs) -> Result<u8> {
    let store = ctx.store()?;
    let id = match store.find_run_or_queued(&args.run)? {
        RunOrQueued::Run(run) if run.state.is_final() => {
            return Err(Error::conflict(format!(
                "run {} has already ended ({})",
                short_id(&run.id),
                run.state
            )))
        }
        found => found.id().to_string(),
    };
    Client::connect(&ctx.paths)?
        .request(&Request::CancelRun(CancelRunRequest { run_id: id.clone() }))?;
    let last = store.last_seq(&id)?;
    let watch = Watch {
        since: last,
        types: state_types(),
        ..Watch::new(Until::Ended, Prints::Nothing)
    };
    let state = follow_run(ctx, &id, watch, |_| Ok(()))?;
    ctx.ui.line(format!("Run {} {}", short_id(&id), state))?;
    Ok(exit::OK)
}
