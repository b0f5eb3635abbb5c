use clap::Args;
use serde_json::json;

use crate::cli::output::{printable, relative_time};
use crate::cli::Ctx;
use crate::error::{exit, Result};
use crate::model::{now, ApprovalState};
use crate::store::ApprovalFilter;

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id (any unique prefix).
    pub run: String,
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: ShowArgs) -> Result<u8> {
    let store = ctx.store()?;
    let run = store.find_run(&args.run)?;
    let repo = store.get_repo(&run.repo_id)?;
    let details = store.run_details(&run.id)?;
    let pending = store.list_approvals(&ApprovalFilter {
        run_id: Some(run.id.clone()),
        states: vec![ApprovalState::Pending],
    })?;
    let events = store.last_seq(&run.id)?;
    if args.json {
        ctx.ui.json(&json!({
            "id": run.id,
            "repo_id": run.repo_id,
            "repo": repo.name,
            "prompt": run.prompt,
            "state": run.state,
            "workspace_path": run.workspace_path,
            "created_at": run.created_at,
            "updated_at": run.updated_at,
            "agent": details.agent,
            "branch": details.branch,
            "base_commit": details.base_commit,
            "events": events,
            "pending_approvals": pending,
        }))?;
        return Ok(exit::OK);
    }
    let now = now();
    let field = |name: &str, value: String| format!("{:<10} {value}", ctx.ui.bold(name));
    ctx.ui.line(field("run", run.id.clone()))?;
    ctx.ui.line(field("repo", repo.name.clone()))?;
    ctx.ui.line(field("state", ctx.ui.run_state(run.state)))?;
    ctx.ui.line(field(
        "started",
        format!(
            "{} (updated {})",
            relative_time(run.created_at, now),
            relative_time(run.updated_at, now)
        ),
    ))?;
    ctx.ui
        .line(field("workspace", run.workspace_path.clone()))?;
    if let Some(branch) = &details.branch {
        ctx.ui.line(field("branch", branch.clone()))?;
    }
    if let Some(base) = &details.base_commit {
        ctx.ui.line(field("base", base.clone()))?;
    }
    if !details.agent.is_null() {
        ctx.ui.line(field("agent", details.agent.to_string()))?;
    }
    ctx.ui.line(field("events", events.to_string()))?;
    for approval in &pending {
        ctx.ui.line(field(
            "waiting",
            format!(
                "{} approval {}: {}",
                approval.approval_type,
                crate::model::short_id(&approval.id),
                crate::cli::approvals::summary(approval)
            ),
        ))?;
    }
    ctx.ui.line(String::new())?;
    ctx.ui.line(printable(&run.prompt))?;
    Ok(exit::OK)
}
