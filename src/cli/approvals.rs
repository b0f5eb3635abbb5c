use clap::Args;
use serde_json::Value;

use super::output::{one_line, relative_time};
use super::Ctx;
use crate::error::{exit, Result};
use crate::model::{now, short_id, Approval, ApprovalState, ApprovalType};
use crate::store::ApprovalFilter;

#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    /// Only this run's approvals (id prefix).
    #[arg(long)]
    #[arg(add = crate::cli::complete::run_ids())]
    pub run: Option<String>,
    /// Which approvals: pending, approved, rejected or all.
    #[arg(long, default_value = "pending")]
    #[arg(add = crate::cli::complete::approval_state_names())]
    pub state: String,
    /// A JSON list of {id, run_id, event_id, type, state, payload,
    /// rejection_reason, created_at, resolved_at}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: ApprovalsArgs) -> Result<u8> {
    let store = ctx.store()?;
    let run_id = match &args.run {
        Some(prefix) => Some(store.find_run(prefix)?.id),
        None => None,
    };
    let states = match args.state.as_str() {
        "all" => Vec::new(),
        state => vec![state.parse::<ApprovalState>().map_err(|e| {
            e.with_hint(format!(
                "use one of: {}, or all",
                ApprovalState::NAMES.join(", ")
            ))
        })?],
    };
    let approvals = store.list_approvals(&ApprovalFilter { run_id, states })?;
    if args.json {
        ctx.ui.json(&approvals)?;
        return Ok(exit::OK);
    }
    if approvals.is_empty() {
        let which = match args.state.as_str() {
            "all" => String::new(),
            state => format!("{state} "),
        };
        ctx.ui.line(format!("No {which}approvals."))?;
        return Ok(exit::OK);
    }
    let repos = store.list_repos()?;
    let now = now();
    let mut rows = Vec::new();
    for approval in &approvals {
        let run = store.get_run(&approval.run_id)?;
        let repo = repos
            .iter()
            .find(|r| r.id == run.repo_id)
            .map(|r| r.name.clone())
            .unwrap_or_default();
        rows.push(vec![
            short_id(&approval.id).to_string(),
            approval.approval_type.to_string(),
            short_id(&approval.run_id).to_string(),
            repo,
            ctx.ui.approval_state(approval.state),
            approval
                .decided_by
                .as_ref()
                .map(|by| one_line(&by.to_string(), 40).into_owned())
                .unwrap_or_default(),
            relative_time(approval.created_at, now),
            one_line(&summary(approval), 60).into_owned(),
        ]);
    }
    ctx.ui.table(
        &["ID", "TYPE", "RUN", "REPO", "STATE", "BY", "AGE", "SUMMARY"],
        &rows,
    )?;
    Ok(exit::OK)
}

/// One line that says what is being asked.
pub fn summary(approval: &Approval) -> String {
    let null = Value::Null;
    let payload = approval.payload.as_ref().unwrap_or(&null);
    let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_string);
    let title = text("title");
    match approval.approval_type {
        ApprovalType::Command => text("command").or(title).unwrap_or_default(),
        ApprovalType::Diff => {
            let stat = payload.get("stat");
            let num = |k: &str| stat.and_then(|s| s.get(k)).and_then(Value::as_u64);
            match (title, num("files"), num("insertions"), num("deletions")) {
                (Some(title), _, _, _) => title,
                (None, Some(f), Some(i), Some(d)) => format!("{f} file(s), +{i} -{d}"),
                _ => text("path").unwrap_or_else(|| "diff".into()),
            }
        }
        ApprovalType::Generic => title.or_else(|| text("details")).unwrap_or_default(),
    }
}
