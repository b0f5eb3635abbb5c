use clap::Subcommand;

use super::Ctx;
use crate::error::{exit, Result};
use crate::notify::Dispatcher;

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send one test notification through every configured sink (each
    /// device, webhook and hook command) and print each result.
    Test,
}

pub fn run(ctx: &Ctx, cmd: NotifyCommand) -> Result<u8> {
    let NotifyCommand::Test = cmd;
    let config = ctx.config()?;
    let dispatcher =
        Dispatcher::from_config(&config.notify).with_escalation(&config.approvals.escalate_to);
    let mut store = ctx.store()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            crate::error::Error::failure(format!("cannot start the async runtime: {e}"))
        })?;
    let results = runtime.block_on(dispatcher.send_test(&mut store))?;
    // A sink the config gets wrong is never sent to: say so, or it would
    // look as if there were nothing wrong with it.
    let problems = dispatcher.health().problems;
    for problem in &problems {
        ctx.ui.line(format!("{:<6} config  {problem}", "FAILED"))?;
    }
    if results.is_empty() && !problems.is_empty() {
        return Ok(exit::FAILURE);
    }
    if results.is_empty() {
        ctx.ui.line(
            "Nothing to send to: add a device (`m device add TOKEN`) with [notify.apns] set, \
             or a [[notify.webhook]] or [[notify.command]] in the config file",
        )?;
        return Ok(exit::FAILURE);
    }
    let mut failed = !problems.is_empty();
    for result in &results {
        failed |= !result.ok;
        let mark = if result.ok { "ok" } else { "FAILED" };
        ctx.ui
            .line(format!("{mark:<6} {}  {}", result.sink, result.detail))?;
    }
    Ok(if failed { exit::FAILURE } else { exit::OK })
}
