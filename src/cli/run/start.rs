use std::io::{IsTerminal, Read};

use clap::Args;

use crate::agent::AgentSpec;
use crate::cli::follow::{follow_run, state_types, Until};
use crate::cli::Ctx;
use crate::client::Client;
use crate::error::{exit, Error, Result};
use crate::model::{short_id, ApprovalType};
use crate::protocol::{Request, Response, RunOptions};

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The repo to work on (name or id prefix).
    #[arg(long, short = 'r')]
    pub repo: String,
    /// What the agent should do (`-` reads it from stdin).
    pub prompt: String,
    /// Start the run's branch from this ref instead of HEAD.
    #[arg(long)]
    pub base: Option<String>,
    /// When the agent finishes well, hold the run for a human to approve its diff.
    #[arg(long)]
    pub review: bool,
    /// Approve requests of this type without asking (repeatable): command, diff, generic.
    #[arg(long = "auto-approve", value_name = "TYPE")]
    pub auto_approve: Vec<ApprovalType>,
    /// Approve commands starting with these words without asking (repeatable), e.g. --allow "cargo test".
    #[arg(long = "allow", value_name = "COMMAND")]
    pub allow_commands: Vec<String>,
    /// Print the run's events until it ends; exit with its final state's code.
    #[arg(long, short = 'f', conflicts_with = "wait")]
    pub follow: bool,
    /// Return when the run needs a human or has ended, with an exit code that
    /// says which (0 completed, 10 failed, 11 cancelled, 12 waiting for
    /// approval, 13 waiting for input).
    #[arg(long)]
    pub wait: bool,
    /// Print the run as JSON instead of its id.
    #[arg(long)]
    pub json: bool,
    /// The agent command and its arguments, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub fn run(ctx: &Ctx, args: StartArgs) -> Result<u8> {
    let prompt = if args.prompt == "-" {
        let mut prompt = String::new();
        std::io::stdin()
            .read_to_string(&mut prompt)
            .map_err(|e| Error::usage(format!("cannot read the prompt from stdin: {e}")))?;
        prompt
    } else {
        args.prompt.clone()
    };
    if prompt.trim().is_empty() {
        return Err(Error::usage("the prompt is empty").with_hint("say what the agent should do"));
    }
    if args.command.is_empty() {
        return Err(Error::usage("no agent command was given").with_hint(
            "put the command after `--`: m run start -r REPO \"PROMPT\" -- ./agent.sh",
        ));
    }
    let repo = ctx.store()?.find_repo(&args.repo)?;
    let request = Request::StartRun {
        repo_id: repo.id.clone(),
        prompt,
        agent: AgentSpec::Exec {
            argv: args.command.clone(),
        },
        base: args.base.clone(),
        options: RunOptions {
            review: args.review,
            auto_approve: args.auto_approve.clone(),
            allow_commands: args.allow_commands.clone(),
            once: false,
        },
    };
    let run = match Client::connect(&ctx.paths)?.request(&request)? {
        Response::Run { run } => run,
        other => {
            return Err(Error::failure(format!(
                "unexpected answer from the daemon: {other:?}"
            )))
        }
    };
    if args.json {
        ctx.ui.json(&run)?;
    } else {
        ctx.ui.line(&run.id)?;
    }
    if std::io::stderr().is_terminal() && !args.follow && !args.wait {
        eprintln!(
            "Started run {} on {}. Follow it with `m events {} --follow`.",
            short_id(&run.id),
            repo.name,
            short_id(&run.id)
        );
    }
    if args.follow {
        let state = follow_run(ctx, &run.id, 0, Until::Ended, Vec::new(), |event| {
            crate::cli::events::print_event(ctx, event, false, false)
        })?;
        return Ok(state.exit_code());
    }
    if args.wait {
        // Only the state changes: a flooding agent's output need not cross
        // the socket to a client that prints none of it.
        let state = follow_run(
            ctx,
            &run.id,
            0,
            Until::NeedsHuman,
            state_types(),
            |_| Ok(()),
        )?;
        return Ok(state.exit_code());
    }
    Ok(exit::OK)
}
