use clap::{Args, Subcommand};
use console::Style;
use serde_json::Value;

use super::output::{printable, relative_time};
use super::Ctx;
use crate::error::{exit, Result};
use crate::model::{now, short_id, ApprovalType};

#[derive(Debug, Subcommand)]
pub enum ApprovalCommand {
    /// Show what an approval asks: the diff, the command, or the details.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// An approval id, or a run id with one pending approval (prefixes work).
    #[arg(add = crate::cli::complete::approval_ids())]
    pub target: String,
    /// The approval as one JSON object, as `m approvals --json` lists it.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, cmd: ApprovalCommand) -> Result<u8> {
    let ApprovalCommand::Show(args) = cmd;
    let approval = super::decide::find_approval(&ctx.store()?, &args.target)?;
    if args.json {
        ctx.ui.json(&approval)?;
        return Ok(exit::OK);
    }
    let now = now();
    ctx.ui.line(format!(
        "{} {} approval {} of run {}, asked {}",
        ctx.ui.approval_state(approval.state),
        approval.approval_type,
        short_id(&approval.id),
        short_id(&approval.run_id),
        relative_time(approval.created_at, now)
    ))?;
    if let Some(by) = &approval.decided_by {
        ctx.ui.line(format!("by: {}", printable(&by.to_string())))?;
    }
    if let Some(reason) = &approval.rejection_reason {
        ctx.ui.line(format!("reason: {}", printable(reason)))?;
    }
    ctx.ui.line(
        ctx.ui
            .dim(format!("content hash: {}", approval.content_hash)),
    )?;
    let null = Value::Null;
    let payload = approval.payload.as_ref().unwrap_or(&null);
    // What the agent sent is shown, never obeyed by the terminal: a command
    // awaiting approval must look like what will run.
    let text = |key: &str| payload.get(key).and_then(Value::as_str).map(printable);
    if let Some(title) = text("title") {
        ctx.ui.line(ctx.ui.bold(&title))?;
    }
    match approval.approval_type {
        ApprovalType::Command => {
            ctx.ui
                .line(format!("$ {}", text("command").unwrap_or_default()))?;
            if let Some(cwd) = text("cwd") {
                ctx.ui.line(ctx.ui.dim(format!("in {cwd}")))?;
            }
            // The agent's own words about the request.
            if let Some(description) = text("description") {
                ctx.ui.line(format!("the agent says: {description}"))?;
            }
        }
        ApprovalType::Diff => {
            for line in text("patch").or(text("diff")).unwrap_or_default().lines() {
                let style = if line.starts_with("+++") || line.starts_with("---") {
                    Style::new().bold()
                } else if line.starts_with('+') {
                    Style::new().green()
                } else if line.starts_with('-') {
                    Style::new().red()
                } else if line.starts_with("@@") {
                    Style::new().cyan()
                } else {
                    Style::new()
                };
                ctx.ui.line(ctx.ui.paint(&style, line))?;
            }
            if payload.get("truncated").and_then(Value::as_bool) == Some(true) {
                ctx.ui
                    .line(ctx.ui.dim("(patch truncated; `m run diff` shows it whole)"))?;
            }
        }
        ApprovalType::Generic => {
            if let Some(details) = text("details") {
                ctx.ui.line(&details)?;
            }
        }
    }
    if approval.payload.is_some() && !matches!(approval.approval_type, ApprovalType::Diff) {
        let known = ["title", "command", "cwd", "argv", "details", "description"];
        if let Some(map) = payload.as_object() {
            for (key, value) in map.iter().filter(|(k, _)| !known.contains(&k.as_str())) {
                let value = value.to_string();
                ctx.ui
                    .line(format!("{}: {}", ctx.ui.dim(key), printable(&value)))?;
            }
        }
    }
    Ok(exit::OK)
}
