use std::io::Read;

use clap::Args;

use super::Ctx;
use crate::client::Client;
use crate::error::{exit, Error, Result};
use crate::model::short_id;
use crate::protocol::{ReplyRequest, Request};

#[derive(Debug, Args)]
pub struct ReplyArgs {
    /// Run id (any unique prefix).
    #[arg(add = crate::cli::complete::run_ids())]
    pub run: String,
    /// The answer (`-` reads it from stdin).
    pub text: String,
}

/// Answers the oldest question a run is waiting on.
pub fn run(ctx: &Ctx, args: ReplyArgs) -> Result<u8> {
    let run = ctx.store()?.find_run(&args.run)?;
    let text = if args.text == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::usage(format!("cannot read the reply from stdin: {e}")))?;
        text.trim_end_matches('\n').to_string()
    } else {
        args.text
    };
    Client::connect_to_run(&ctx.paths, &run.id)?.request(&Request::Reply(ReplyRequest {
        run_id: run.id.clone(),
        text: Some(text),
        done: false,
    }))?;
    ctx.ui
        .line(format!("Replied to run {}", short_id(&run.id)))?;
    Ok(exit::OK)
}
