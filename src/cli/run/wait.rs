use std::time::{Duration, Instant};

use clap::Args;

use crate::cli::Ctx;
use crate::error::{exit, ErrorKind, Result};
use crate::model::short_id;
use crate::store::RunOrQueued;

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Run id (any unique prefix).
    #[arg(add = crate::cli::complete::run_ids())]
    pub run: String,
    /// Give up after this long (e.g. 90s, 10m, 2h; a bare number is
    /// seconds) and exit 124, as `timeout` does; the run goes on.
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    pub timeout: Option<Duration>,
}

/// Returns when the run needs a human or has ended. Exit codes: 0
/// completed, 10 failed, 11 cancelled, 12 waiting for approval, 13 waiting
/// for input, 124 still going when the time was up.
pub fn run(ctx: &Ctx, args: WaitArgs) -> Result<u8> {
    let store = ctx.store()?;
    let (id, state) = match store.find_run_or_queued(&args.run)? {
        RunOrQueued::Run(run) if run.state.is_final() => (run.id, run.state),
        // A queued run is waited for through its start.
        found => {
            let id = found.id().to_string();
            let deadline = args.timeout.map(|t| Instant::now() + t);
            crate::cli::interrupt::say_run_continues(&id);
            match super::wait_for_human(ctx, &id, deadline) {
                Ok(state) => (id, state),
                Err(err) if err.kind == ErrorKind::TimedOut => {
                    let now = match store.find_run_or_queued(&id)? {
                        RunOrQueued::Run(run) => run.state.as_str().replace('_', " "),
                        RunOrQueued::Queued(_) => "queued".to_string(),
                    };
                    eprintln!(
                        "run {} is still {now} after {}",
                        short_id(&id),
                        super::format_duration(args.timeout.unwrap_or_default())
                    );
                    return Ok(exit::TIMED_OUT);
                }
                Err(err) => return Err(err),
            }
        }
    };
    super::report_end(&store, &id, state)?;
    Ok(state.exit_code())
}
