use clap::Args;
use serde_json::json;

use super::output::{one_line, relative_time};
use super::Ctx;
use crate::error::{exit, Result};
use crate::model::{now, short_id, ApprovalState, RunState};
use crate::store::RunFilter;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub json: bool,
}

/// The daemon, the active runs and what waits for a human, on one screen.
pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<u8> {
    let daemon = super::daemon::status(ctx)?;
    let store = ctx.store()?;
    let active = store.list_runs(&RunFilter {
        states: RunState::ACTIVE.to_vec(),
        ..RunFilter::default()
    })?;
    let pending = store.count_approvals(ApprovalState::Pending)?;
    if args.json {
        ctx.ui.json(&json!({
            "daemon": daemon,
            "active_runs": active,
            "pending_approvals": pending,
        }))?;
        return Ok(exit::OK);
    }
    let now = now();
    match &daemon {
        Some(d) => ctx.ui.line(format!(
            "daemon    running (pid {}, version {}, up since {})",
            d.pid,
            d.version,
            relative_time(d.started_at, now)
        ))?,
        None => ctx
            .ui
            .line("daemon    not running (the next run starts it)")?,
    }
    ctx.ui.line(format!("runs      {} active", active.len()))?;
    for run in &active {
        ctx.ui.line(format!(
            "          {}  {}  {}  {}",
            short_id(&run.id),
            ctx.ui.run_state(run.state),
            relative_time(run.created_at, now),
            one_line(&run.prompt, 50)
        ))?;
    }
    ctx.ui.line(format!(
        "approvals {pending} pending{}",
        if pending > 0 {
            " (see `m approvals`)"
        } else {
            ""
        }
    ))?;
    Ok(exit::OK)
}
