mod cancel;
mod list;
mod show;
mod start;
mod wait;

use clap::Subcommand;

use super::Ctx;
use crate::error::Result;

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Start an agent on a repo, in a workspace of its own.
    ///
    /// Example: m run start -r api "fix the flaky test" -- ./agent.sh
    Start(start::StartArgs),
    /// List runs, newest first.
    #[command(alias = "ls")]
    List(list::ListArgs),
    /// Show one run in detail.
    Show(show::ShowArgs),
    /// Stop a run's agent; the run ends cancelled.
    Cancel(cancel::CancelArgs),
    /// Wait until a run needs a human or has ended (see exit codes).
    Wait(wait::WaitArgs),
}

pub fn run(ctx: &Ctx, cmd: RunCommand) -> Result<u8> {
    match cmd {
        RunCommand::Start(args) => start::run(ctx, args),
        RunCommand::List(args) => list::run(ctx, args),
        RunCommand::Show(args) => show::run(ctx, args),
        RunCommand::Cancel(args) => cancel::run(ctx, args),
        RunCommand::Wait(args) => wait::run(ctx, args),
    }
}
