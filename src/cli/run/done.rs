use clap::Args;

use crate::cli::Ctx;
use crate::client::Client;
use crate::error::{exit, Result};
use crate::model::short_id;
use crate::protocol::{ReplyRequest, Request};

#[derive(Debug, Args)]
pub struct DoneArgs {
    /// Run id (any unique prefix).
    #[arg(add = crate::cli::complete::run_ids())]
    pub run: String,
}

/// Ends a conversational run waiting for its next prompt: its work is
/// committed and it completes (after its review, with --review).
pub fn run(ctx: &Ctx, args: DoneArgs) -> Result<u8> {
    let run = ctx.store()?.find_run(&args.run)?;
    Client::connect(&ctx.paths)?.request(&Request::Reply(ReplyRequest {
        run_id: run.id.clone(),
        text: None,
        done: true,
    }))?;
    ctx.ui
        .line(format!("Run {} is finishing", short_id(&run.id)))?;
    Ok(exit::OK)
}
